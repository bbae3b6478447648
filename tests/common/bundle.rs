//! Small hand-written ATT&CK bundles for the catalogue tests: four tactics in matrix order, techniques,
//! sub-techniques, a multi-tactic technique, a revoked and a deprecated one.

#![allow(dead_code)]

use serde_json::{Value, json};

pub const TACTICS: [(&str, &str, &str); 4] = [
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
];

/// Active techniques in [`mini`]: 4 techniques and 3 sub-techniques.
pub const ACTIVE: usize = 7;

pub fn tactic(shortname: &str, mitre_id: &str, name: &str) -> Value {
    json!({
        "type": "x-mitre-tactic", "spec_version": "2.1", "id": format!("x-mitre-tactic--{mitre_id}"),
        "name": name, "x_mitre_shortname": shortname,
        "external_references": [{"source_name": "mitre-attack", "external_id": mitre_id,
                                  "url": format!("https://attack.mitre.org/tactics/{mitre_id}")}]
    })
}

pub fn technique(mitre_id: &str, name: &str, tactics: &[&str], platforms: &[&str]) -> Value {
    let is_sub = mitre_id.contains('.');
    json!({
        "type": "attack-pattern", "spec_version": "2.1", "id": format!("attack-pattern--{mitre_id}"),
        "name": name, "description": format!("{name}: adversaries may do things. [Citation](https://example.com)"),
        "kill_chain_phases": tactics.iter().map(|t| json!({"kill_chain_name": "mitre-attack", "phase_name": t})).collect::<Vec<_>>(),
        "x_mitre_platforms": platforms,
        "x_mitre_is_subtechnique": is_sub,
        "x_mitre_version": "1.0",
        "modified": "2025-01-01T00:00:00.000Z",
        "external_references": [{"source_name": "mitre-attack", "external_id": mitre_id,
                                  "url": format!("https://attack.mitre.org/techniques/{}", mitre_id.replace('.', "/"))}]
    })
}

/// The base bundle (STIX 2.1, with a collection naming the release).
pub fn mini() -> Value {
    let mut objects = vec![json!({
        "type": "x-mitre-collection", "spec_version": "2.1", "id": "x-mitre-collection--test",
        "name": "Test ATT&CK", "x_mitre_version": "99.1"
    })];
    objects.extend(TACTICS.iter().map(|(shortname, id, name)| tactic(shortname, id, name)));
    objects.push(json!({
        "type": "x-mitre-matrix", "spec_version": "2.1", "id": "x-mitre-matrix--test", "name": "Test matrix",
        "tactic_refs": TACTICS.iter().map(|(_, id, _)| format!("x-mitre-tactic--{id}")).collect::<Vec<_>>()
    }));
    objects.extend([
        technique("T1566", "Phishing", &["initial-access"], &["Windows", "macOS", "Linux"]),
        technique("T1566.001", "Spearphishing Attachment", &["initial-access"], &["Windows", "macOS", "Linux"]),
        technique(
            "T1059",
            "Command and Scripting Interpreter",
            &["execution"],
            &["Windows", "Linux", "macOS", "Network Devices"],
        ),
        technique("T1059.001", "PowerShell", &["execution"], &["Windows"]),
        technique(
            "T1055",
            "Process Injection",
            &["privilege-escalation", "defense-evasion"],
            &["Windows", "Linux", "macOS"],
        ),
        technique(
            "T1055.011",
            "Extra Window Memory Injection",
            &["defense-evasion", "privilege-escalation"],
            &["Windows"],
        ),
        technique("T1027", "Obfuscated Files or Information", &["defense-evasion"], &["Windows", "Linux", "macOS"]),
        {
            let mut revoked = technique("T1086", "PowerShell (old)", &["execution"], &["Windows"]);
            revoked["revoked"] = json!(true);
            revoked
        },
        {
            let mut deprecated = technique("T1064", "Scripting", &["execution"], &["Windows"]);
            deprecated["x_mitre_deprecated"] = json!(true);
            deprecated
        },
        json!({"type": "relationship", "id": "relationship--1", "relationship_type": "uses",
               "source_ref": "intrusion-set--x", "target_ref": "attack-pattern--T1059"}),
        json!({"type": "malware", "id": "malware--1", "name": "Something", "unknown_field": {"nested": [1, 2]}}),
    ]);
    json!({"type": "bundle", "id": "bundle--test", "objects": objects})
}

/// Finds an object of the bundle by its ATT&CK id, for tests that change it.
pub fn object_mut<'a>(bundle: &'a mut Value, mitre_id: &str) -> &'a mut Value {
    bundle["objects"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|object| object["external_references"][0]["external_id"] == mitre_id)
        .unwrap_or_else(|| panic!("{mitre_id} is in the bundle"))
}

pub fn push(bundle: &mut Value, object: Value) {
    bundle["objects"].as_array_mut().unwrap().push(object);
}

/// The real ATT&CK data beside the checkout, or `None` with a clear message.
pub fn real_data(file: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/attack").join(file);
    if path.exists() {
        Some(path)
    } else {
        println!(
            "skipping: {} not found (the real ATT&CK data lives in ../shared/data/attack beside the checkout)",
            path.display()
        );
        None
    }
}
