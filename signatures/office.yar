/*
 * Office documents with macros that run on open and reach outside the document: the most
 * common first stage of commodity malware.
 */
rule Office_Macro_AutoExec_Shell
{
    meta:
        description = "Office document (OLE or OOXML) with an auto-run macro that starts a shell or downloads a file"
        severity = "high"
    strings:
        $ole = { D0 CF 11 E0 A1 B1 1A E1 }
        $vba_project = "vbaProject.bin" ascii
        $vba = "VBA" ascii wide
        $auto1 = "AutoOpen" nocase ascii wide
        $auto2 = "Document_Open" nocase ascii wide
        $auto3 = "Workbook_Open" nocase ascii wide
        $auto4 = "Auto_Open" nocase ascii wide
        $act1 = "WScript.Shell" nocase ascii wide
        $act2 = "Shell(" nocase ascii wide
        $act3 = "URLDownloadToFile" nocase ascii wide
        $act4 = "CreateObject(" nocase ascii wide
        $act5 = "powershell" nocase ascii wide
        // A module's source as the scanner decompresses it from the document (`Module1.vba`).
        $source = "Attribute VB_Name" nocase ascii
    condition:
        (($ole at 0 or (uint32(0) == 0x04034B50 and $vba_project)) and $vba or $source at 0)
        and any of ($auto*) and any of ($act*)
}

rule Encoded_PE_In_Text
{
    meta:
        description = "Base64-encoded Windows executable embedded in a text file (HTML smuggling, mail, scripts)"
        severity = "medium"
    strings:
        $mz_b64_a = "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQ" ascii wide
        $mz_b64_b = "TVpQAAIAAAAEAA8A//8AALgAAAAAAAAAQ" ascii wide
        $mz_b64_dos = "VGhpcyBwcm9ncmFtIGNhbm5vdCBiZSBydW4gaW4gRE9TIG1vZGU" ascii wide
    condition:
        uint16(0) != 0x5A4D and any of them
}

rule Office_XLM_AutoOpen_Exec
{
    meta:
        description = "Excel 4.0 macro sheet run on open (Auto_Open, Auto_Activate) that starts a program or calls into a DLL"
        severity = "high"
    strings:
        // The text the scanner writes from a workbook's macro sheets (`Workbook.xlm`).
        $sheet = "SHEET \"" ascii
        $auto = /NAME "Auto_(Open|Activate)"/ ascii
        $act1 = "=EXEC(" ascii
        $act2 = "=CALL(" ascii
        $act3 = "=REGISTER(" ascii
        $act4 = "URLDownloadToFile" nocase ascii
    condition:
        $sheet at 0 and $auto and any of ($act*)
}
