/*
 * Script droppers and download cradles: small scripts whose job is to fetch and run a second
 * stage. Common as e-mail attachments and in compromised build artefacts.
 */
rule Dropper_PowerShell_Download_Cradle
{
    meta:
        description = "PowerShell that downloads a script or binary and executes it in memory, from a plain-HTTP or IP-address URL, or launched hidden, without profile or bypassing the execution policy"
        severity = "high"
        // A bare cradle over HTTPS to a named host is how documented installers (Chocolatey,
        // Boxstarter, cloud agents) are started, in READMEs and configuration files alike:
        // without one of the signs of intent below it is not reported.
    strings:
        $iex = /\b(IEX|Invoke-Expression)\b/ nocase
        $dl1 = /New-Object\s+(System\.)?Net\.WebClient\)?\s*\.\s*Download(String|Data|File)\s*\(/ nocase
        $dl2 = /\b(Invoke-WebRequest|iwr|Invoke-RestMethod|irm)\s+(-Uri\s+)?['"]?https?:\/\// nocase
        $dl3 = /Net\.WebClient\)\.DownloadString\(/ nocase
        $plain_http = /Download(String|Data|File)\s*\(\s*['"]http:\/\// nocase
        $plain_http_cmdlet = /\b(Invoke-WebRequest|iwr|Invoke-RestMethod|irm)\s+(-Uri\s+)?['"]?http:\/\// nocase
        $ip_url = /https?:\/\/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}[:\/'"]/ nocase
        $hidden = /\s-(w|wi|win|window|windowstyle)\s+(hidden|1)\b/ nocase
        $noprofile = /\s-(nop|noprofile)\b/ nocase
        $bypass = /\s-(ep|exec|executionpolicy)\s+bypass\b/ nocase
    condition:
        $iex and ($dl1 or $dl2 or $dl3) and
        ($plain_http or $plain_http_cmdlet or $ip_url or $hidden or $noprofile or $bypass)
}

rule Dropper_PowerShell_Hidden_Encoded
{
    meta:
        description = "PowerShell started hidden, without profile, with a Base64-encoded command"
        severity = "high"
    strings:
        $ps = "powershell" nocase
        $enc = /\s-(e|ec|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm|encodedcomma|encodedcomman|encodedcommand)\s+[A-Za-z0-9+\/=]{40,}/ nocase
        $hidden = /\s-(w|wi|win|wind|windo|window|windows|windowst|windowsty|windowstyl|windowstyle)\s+(hidden|1)\b/ nocase
        $noprofile = /\s-(nop|noprofile)\b/ nocase
    condition:
        $ps and $enc and ($hidden or $noprofile)
}

rule Dropper_WSH_Download_Execute
{
    meta:
        description = "VBScript or JScript that downloads a file, saves it and runs it"
        severity = "high"
    strings:
        $http1 = "MSXML2.XMLHTTP" nocase
        $http2 = "MSXML2.ServerXMLHTTP" nocase
        $http3 = "WinHttp.WinHttpRequest" nocase
        $stream = "ADODB.Stream" nocase
        $save = "SaveToFile" nocase
        $shell1 = "WScript.Shell" nocase
        $shell2 = "Shell.Application" nocase
        $run = /\.\s*(Run|ShellExecute|Exec)\s*\(?/ nocase
    condition:
        filesize < 2MB and any of ($http*) and $stream and $save and any of ($shell*) and $run
}

rule Dropper_Unix_Fetch_And_Run
{
    meta:
        description = "Shell script that downloads to a temporary directory, makes it executable and runs it"
        severity = "medium"
    strings:
        $fetch = /\b(curl|wget)\s+[^\n]{0,200}(-o|-O|>)\s*['"]?\/(tmp|dev\/shm|var\/tmp)\//
        $chmod = /chmod\s+(\+x|[0-7]?7[0-7][0-7])\s+['"]?\/(tmp|dev\/shm|var\/tmp)\//
    condition:
        filesize < 1MB and $fetch and $chmod
}

rule Reverse_Shell_Unix
{
    meta:
        description = "Interactive shell redirected to a TCP connection (reverse shell one-liner)"
        severity = "high"
    strings:
        $bash = /\b(bash|sh)\s+-i\s*[>&]{1,2}\s*\/dev\/tcp\/[^\/\s]{1,255}\/[0-9]{1,5}/
        $nc = /\b(nc|ncat|netcat)\s+(-[a-z]*e\s+\/bin\/(ba)?sh|[^\n]{1,100}\s-e\s+\/bin\/(ba)?sh)/
        $mkfifo = /mkfifo\s+\/tmp\/[^\s;]{1,64}\s*;\s*(nc|cat)\b[^\n]{0,120}\|\s*\/bin\/(ba)?sh\s+-i/
    condition:
        any of them
}
