/*
 * The EICAR anti-malware test file: a harmless 68-byte program that every scanner detects, used
 * to prove a deployment end to end. The file may be followed by whitespace, up to 128 bytes.
 */
rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file"
        severity = "test"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        // Split in two so that this rule file is not itself detected by scanners that look for
        // the whole string.
        $head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
        $tail = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $head at 0 and $tail at 28 and filesize <= 128
}
