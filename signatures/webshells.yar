/*
 * Web shells: server-side scripts that run commands sent in HTTP requests. Uploaded through a
 * file-sharing or CMS bucket and then served, they give an attacker a shell on the web tier.
 */
rule Webshell_PHP_Request_Eval
{
    meta:
        description = "PHP script that evaluates or executes data taken from the HTTP request"
        severity = "high"
    strings:
        $php = "<?php" nocase
        $exec = /\b(eval|assert|system|exec|shell_exec|passthru|popen|proc_open|create_function)\s*\(\s*(base64_decode\s*\(\s*|gzinflate\s*\(\s*|str_rot13\s*\(\s*|stripslashes\s*\(\s*)*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
    condition:
        $php and ($exec or $backtick)
}

rule Webshell_PHP_Obfuscated_Loader
{
    meta:
        description = "PHP script that evaluates a decoded, compressed payload (typical packed web shell)"
        severity = "high"
    strings:
        $php = "<?php" nocase
        $loader = /\beval\s*\(\s*(gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(\s*base64_decode\s*\(/ nocase
        $preg_e = /preg_replace\s*\(\s*['"]\/.{0,64}\/e['"]/ nocase
    condition:
        $php and ($loader or $preg_e)
}

rule Webshell_JSP_Runtime_Exec
{
    meta:
        description = "JSP page that runs a command taken from a request parameter"
        severity = "high"
    strings:
        $jsp1 = "<%@" ascii
        $jsp2 = "<%" ascii
        $exec = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(\s*request\s*\.\s*getParameter\s*\(/
        $pb = /new\s+ProcessBuilder\s*\(.{0,80}request\s*\.\s*getParameter\s*\(/
    condition:
        ($jsp1 or $jsp2) and ($exec or $pb)
}

rule Webshell_ASPX_Process_Start
{
    meta:
        description = "ASP.NET page that starts a process with arguments from the request"
        severity = "high"
    strings:
        $page = /<%@\s*Page/ nocase
        $cmd = "cmd.exe" nocase
        $start = /Process\s*\.\s*Start\s*\(/
        $req = /Request\s*(\.\s*(Form|QueryString|Params))?\s*\[/
    condition:
        $page and $start and $req and $cmd
}
