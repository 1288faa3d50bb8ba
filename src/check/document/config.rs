//! Image configuration checks (config.md; schema/config-schema.json): `os` and
//! `architecture` REQUIRED, `created` an RFC 3339 date-time, the execution `config`
//! (config.md: Env "Entries are in the format of VARNAME=VARVALUE."), `rootfs` with
//! `type` "layers" and digest `diff_ids`, and `history`.

use simd_json::StaticNode;
use simd_json::borrowed::{Object, Value};

use super::fields::{optional_string, required_string, string_array};
use super::{Context, pointer};
use crate::model::digest::Digest;
use crate::model::document::Config;
use crate::model::platform::Platform;
use crate::model::time::is_rfc3339;
use crate::rules::Rule;

/// Image configuration (config.md; schema/config-schema.json).
pub(super) fn config(object: &Object, cx: &mut Context) -> Config {
    let os = required_string(object, "", "os", cx);
    let architecture = required_string(object, "", "architecture", cx);
    let variant = optional_string(object, "", "variant", cx);
    let os_version = optional_string(object, "", "os.version", cx);
    optional_string(object, "", "author", cx);
    if let Some(created) = optional_string(object, "", "created", cx) {
        if !is_rfc3339(&created) {
            cx.schema(
                "/created",
                format!("created {created:?} is not an RFC 3339 date-time"),
            );
        }
    }
    string_array(object, "", "os.features", cx);
    if let Some(value) = object.get("config") {
        execution_config(value, cx);
    }
    let diff_ids = rootfs(object, cx);
    if let Some(value) = object.get("history") {
        history(value, cx);
    }
    let platform = match (os, architecture) {
        (Some(os), Some(architecture)) => {
            Some(Platform::new(os, architecture, variant, os_version))
        }
        _ => None,
    };
    Config {
        platform: platform.map(Platform::shared),
        diff_ids,
    }
}

/// `rootfs`: REQUIRED, with `type` "layers" and `diff_ids`, each a digest. Returns how many
/// `diff_ids` there are.
fn rootfs(object: &Object, cx: &mut Context) -> Option<u32> {
    match object.get("rootfs") {
        None => {
            cx.missing("/rootfs");
            None
        }
        Some(Value::Object(rootfs)) => {
            match rootfs.get("type") {
                None => cx.missing("/rootfs/type"),
                Some(Value::String(s)) if s == "layers" => {}
                Some(Value::String(s)) => {
                    cx.schema("/rootfs/type", "rootfs.type must be \"layers\"")
                        .set_expected_found("layers", s);
                }
                Some(value) => cx.wrong_type("/rootfs/type", "string", value),
            }
            if !rootfs.contains_key("diff_ids") {
                cx.missing("/rootfs/diff_ids");
            }
            string_array(rootfs, "/rootfs", "diff_ids", cx).map(|ids| {
                for (i, id) in ids.iter().enumerate() {
                    if let Err(error) = Digest::parse(id) {
                        cx.report(
                            Rule::DescriptorDigestInvalid,
                            &pointer("/rootfs/diff_ids", i),
                            format!("invalid diff_id: {error}"),
                        );
                    }
                }
                u32::try_from(ids.len()).unwrap_or(u32::MAX)
            })
        }
        Some(value) => {
            cx.wrong_type("/rootfs", "object", value);
            None
        }
    }
}

/// The `config` object of an image configuration: execution parameters.
fn execution_config(value: &Value, cx: &mut Context) {
    const AT: &str = "/config";
    let Value::Object(object) = value else {
        cx.wrong_type(AT, "object", value);
        return;
    };
    for key in ["User", "WorkingDir", "StopSignal"] {
        optional_string(object, AT, key, cx);
    }
    // Go writes nil slices as null ("Env": null in configs from `docker import`).
    let env = match object.get("Env") {
        Some(Value::Static(StaticNode::Null)) => None,
        _ => string_array(object, AT, "Env", cx),
    };
    if let Some(env) = env {
        // config.md: "Entries are in the format of VARNAME=VARVALUE."
        for (i, entry) in env.iter().enumerate() {
            if entry
                .split_once('=')
                .is_none_or(|(name, _)| name.is_empty())
            {
                cx.schema(
                    &pointer("/config/Env", i),
                    format!("Env entry {entry:?} is not VARNAME=VARVALUE"),
                );
            }
        }
    }
    for key in ["Entrypoint", "Cmd"] {
        if !matches!(object.get(key), Some(Value::Static(StaticNode::Null))) {
            string_array(object, AT, key, cx);
        }
    }
    for key in ["ExposedPorts", "Volumes", "Labels"] {
        match object.get(key) {
            None | Some(Value::Static(StaticNode::Null)) => {}
            Some(Value::Object(map)) => {
                for (name, item) in map.iter() {
                    let ok = if key == "Labels" {
                        matches!(item, Value::String(_))
                    } else {
                        matches!(item, Value::Object(_))
                    };
                    if !ok {
                        let expected = if key == "Labels" { "string" } else { "object" };
                        cx.wrong_type(&pointer(&pointer(AT, key), name), expected, item);
                    }
                }
            }
            Some(other) => cx.wrong_type(&pointer(AT, key), "object", other),
        }
    }
    if let Some(value) = object.get("ArgsEscaped") {
        if !matches!(value, Value::Static(StaticNode::Bool(_))) {
            cx.wrong_type("/config/ArgsEscaped", "boolean", value);
        }
    }
}

fn history(value: &Value, cx: &mut Context) {
    let Value::Array(items) = value else {
        cx.wrong_type("/history", "array", value);
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = pointer("/history", i);
        let Value::Object(entry) = item else {
            cx.wrong_type(&at, "object", item);
            continue;
        };
        for key in ["created", "author", "created_by", "comment"] {
            optional_string(entry, &at, key, cx);
        }
        if let Some(value) = entry.get("empty_layer") {
            if !matches!(value, Value::Static(StaticNode::Bool(_))) {
                cx.wrong_type(&pointer(&at, "empty_layer"), "boolean", value);
            }
        }
    }
}
