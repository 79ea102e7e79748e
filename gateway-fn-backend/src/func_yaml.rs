//! `func.yaml`, the Fn CLI's function file, as `fn init` writes it.
//!
//! The file is read into a generic YAML value first and each known key is then checked on its
//! own, so that a wrong type is reported with the file and the key (`func.yaml: memory: expected
//! a whole number, got a string`) and keys this gateway does not know are ignored: the Fn CLI
//! adds fields over time (`triggers`, `annotations`, `build`, `expects`, …) and a function
//! directory written by any version of it must load.
//!
//! `fn init --runtime python` writes, for example:
//!
//! ```yaml
//! schema_version: 20180708
//! name: hello
//! version: 0.0.1
//! runtime: python
//! build_image: fnproject/python:3.11-dev
//! run_image: fnproject/python:3.11
//! entrypoint: /python/bin/fdk /function/func.py handler
//! memory: 256
//! ```
//!
//! and `--runtime node` the same with `runtime: node` and `entrypoint: node func.js`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// The names the Fn CLI looks for, in its order of preference.
pub const FUNC_FILE_NAMES: [&str; 3] = ["func.yaml", "func.yml", "func.json"];

/// Fn's default memory for a function, in MB.
pub const DEFAULT_MEMORY_MB: u64 = 128;

/// What went wrong reading a function file. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum FuncFileError {
    /// The directory holds none of [`FUNC_FILE_NAMES`].
    #[error("no func.yaml, func.yml or func.json in {}", dir.display())]
    NotFound {
        /// The function directory that was searched.
        dir: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The function file.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML (JSON files are read as YAML).
    #[error("{}: not valid YAML: {message}", path.display())]
    Syntax {
        /// The function file.
        path: PathBuf,
        /// The YAML parser's message.
        message: String,
    },
    /// A known key has a value of the wrong type or out of range, or the file is not a mapping
    /// of keys.
    #[error("{}: {key}: {message}", path.display())]
    Field {
        /// The function file.
        path: PathBuf,
        /// The key, with the position inside it for nested values (`triggers[0].type`,
        /// `config.NAME`), or `(top level)`.
        key: String,
        /// What is wrong with the value.
        message: String,
    },
}

/// The language family a function is prepared for, from its `runtime` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// `python`, `python3.11`, …: a venv with `fdk` and `requirements.txt`.
    Python,
    /// `node`, `node18`, …: `npm install` with `@fnproject/fdk`.
    Node,
    /// Anything else (or no runtime): the command is run as written.
    Other,
}

/// An entry of `triggers:` (kept for tools that list them; the gateway routes by its spec).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trigger {
    /// The trigger's `name`.
    pub name: Option<String>,
    /// The trigger's `type` (`http` for the triggers `fn init` writes).
    pub kind: Option<String>,
    /// The trigger's `source`: for an HTTP trigger, the path it answers on (`/hello`).
    pub source: Option<String>,
}

/// A parsed function file. Absent keys are `None` (or empty); defaults are applied by the
/// runtime, not here, so that "not written" stays distinguishable from "written as default".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FuncFile {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    /// The file format's version (`20180708` in files the current Fn CLI writes).
    pub schema_version: Option<i64>,
    /// The function's name.
    pub name: Option<String>,
    /// The function's version, as written (`0.0.1`).
    pub version: Option<String>,
    /// The FDK runtime (`python`, `node18`, …), which decides how the function is prepared;
    /// see [`FuncFile::runtime_kind`].
    pub runtime: Option<String>,
    /// The Docker image `fn build` builds in; kept as written, since the function is prepared
    /// without Docker.
    pub build_image: Option<String>,
    /// The Docker image `fn build` runs the function in; kept as written, since the function
    /// runs as a local process.
    pub run_image: Option<String>,
    /// Docker `ENTRYPOINT`, split on white space as the Fn CLI does.
    pub entrypoint: Option<String>,
    /// Docker `CMD`, appended to the entrypoint.
    pub cmd: Option<String>,
    /// The `content_type` key, kept as written; the gateway does not interpret it.
    pub content_type: Option<String>,
    /// MB; `FN_MEMORY`.
    pub memory: Option<u64>,
    /// Seconds a call may take (Fn: default 30, max 300). `0` counts as absent.
    pub timeout: Option<u32>,
    /// Seconds an idle process is kept (Fn: default 30, max 3600). `0` counts as absent.
    pub idle_timeout: Option<u32>,
    /// Function configuration, exported to the process as environment variables.
    pub config: BTreeMap<String, String>,
    /// The `triggers:` entries.
    pub triggers: Vec<Trigger>,
    /// Top-level keys present in the file that this parser does not interpret.
    pub other_keys: Vec<String>,
}

impl FuncFile {
    /// Finds the function file in `dir` (`func.yaml`, then `func.yml`, then `func.json`).
    pub fn find(dir: &Path) -> Result<PathBuf, FuncFileError> {
        FUNC_FILE_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
            .ok_or_else(|| FuncFileError::NotFound {
                dir: dir.to_path_buf(),
            })
    }

    /// Finds and parses the function file of a function directory.
    pub fn load(dir: &Path) -> Result<FuncFile, FuncFileError> {
        let path = Self::find(dir)?;
        let text = std::fs::read_to_string(&path).map_err(|source| FuncFileError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses the text of a function file (YAML; JSON is read as the YAML it also is).
    pub fn parse(text: &str, path: &Path) -> Result<FuncFile, FuncFileError> {
        let value: Value = serde_norway::from_str(text).map_err(|e| FuncFileError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let fields = Fields { path };
        let map = match value {
            Value::Mapping(map) => map,
            // An empty file: nothing is set; the runtime will say what is missing.
            Value::Null => serde_norway::Mapping::new(),
            other => {
                return Err(fields.error(
                    "(top level)",
                    format!("expected a mapping of keys, got {}", describe(&other)),
                ))
            }
        };

        let mut file = FuncFile {
            path: path.to_path_buf(),
            ..FuncFile::default()
        };
        for (key, value) in &map {
            let Some(key) = key.as_str() else {
                return Err(fields.error(
                    &scalar_text(key).unwrap_or_else(|| "?".into()),
                    "keys must be strings".into(),
                ));
            };
            match key {
                "schema_version" => file.schema_version = fields.int(key, value)?,
                "name" => file.name = fields.string(key, value)?,
                "version" => file.version = fields.string(key, value)?,
                "runtime" => file.runtime = fields.string(key, value)?,
                "build_image" => file.build_image = fields.string(key, value)?,
                "run_image" => file.run_image = fields.string(key, value)?,
                "entrypoint" => file.entrypoint = fields.string(key, value)?,
                "cmd" => file.cmd = fields.string(key, value)?,
                "content_type" => file.content_type = fields.string(key, value)?,
                "memory" => file.memory = fields.unsigned(key, value, u64::MAX)?,
                "timeout" => file.timeout = fields.seconds(key, value)?,
                "idle_timeout" => file.idle_timeout = fields.seconds(key, value)?,
                "config" => file.config = fields.string_map(key, value)?,
                "triggers" => file.triggers = fields.triggers(key, value)?,
                _ => file.other_keys.push(key.to_string()),
            }
        }
        Ok(file)
    }

    /// The language family, from `runtime` (`python3.11` → Python, `node` → Node).
    pub fn runtime_kind(&self) -> RuntimeKind {
        let runtime = self.runtime.as_deref().unwrap_or("").trim();
        if runtime.starts_with("python") {
            RuntimeKind::Python
        } else if runtime.starts_with("node") {
            RuntimeKind::Node
        } else {
            RuntimeKind::Other
        }
    }

    /// The command as Docker would run it: the entrypoint's words, then the cmd's words, each
    /// split on white space (the Fn CLI writes `ENTRYPOINT ["w1", "w2"]` from
    /// `strings.Fields`, so quotes have no meaning here either). Empty when neither is set.
    pub fn command_words(&self) -> Vec<String> {
        [self.entrypoint.as_deref(), self.cmd.as_deref()]
            .into_iter()
            .flatten()
            .flat_map(str::split_whitespace)
            .map(str::to_string)
            .collect()
    }
}

/// Checks one key's value and names the file and key in errors.
struct Fields<'a> {
    path: &'a Path,
}

impl Fields<'_> {
    fn error(&self, key: &str, message: String) -> FuncFileError {
        FuncFileError::Field {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message,
        }
    }

    /// A string; numbers and booleans are taken as written (`version: 1.0`), as Go's YAML
    /// decoder does for string fields. `null` (`cmd:` with nothing after it) is absent.
    fn string(&self, key: &str, value: &Value) -> Result<Option<String>, FuncFileError> {
        match value {
            Value::Null => Ok(None),
            other => scalar_text(other).map(Some).ok_or_else(|| {
                self.error(key, format!("expected a string, got {}", describe(other)))
            }),
        }
    }

    fn int(&self, key: &str, value: &Value) -> Result<Option<i64>, FuncFileError> {
        match value {
            Value::Null => Ok(None),
            Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64()),
            other => Err(self.error(
                key,
                format!("expected a whole number, got {}", describe(other)),
            )),
        }
    }

    fn unsigned(&self, key: &str, value: &Value, max: u64) -> Result<Option<u64>, FuncFileError> {
        match value {
            Value::Null => Ok(None),
            Value::Number(n) => match n.as_u64() {
                Some(v) if v <= max => Ok(Some(v)),
                Some(v) => Err(self.error(key, format!("{v} is larger than {max}"))),
                None => Err(self.error(
                    key,
                    format!("expected a whole number ≥ 0, got {}", describe(value)),
                )),
            },
            other => Err(self.error(
                key,
                format!("expected a whole number, got {}", describe(other)),
            )),
        }
    }

    /// Seconds; `0` means "not set" (Fn applies its default).
    fn seconds(&self, key: &str, value: &Value) -> Result<Option<u32>, FuncFileError> {
        let secs = self.unsigned(key, value, u64::from(u32::MAX))?;
        Ok(secs
            .filter(|&s| s > 0)
            .map(|s| u32::try_from(s).unwrap_or(u32::MAX)))
    }

    /// `config:`: a mapping of names to scalar values.
    fn string_map(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<BTreeMap<String, String>, FuncFileError> {
        let map = match value {
            Value::Null => return Ok(BTreeMap::new()),
            Value::Mapping(map) => map,
            other => {
                return Err(self.error(
                    key,
                    format!(
                        "expected a mapping of names to values, got {}",
                        describe(other)
                    ),
                ))
            }
        };
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let name = scalar_text(k)
                .ok_or_else(|| self.error(key, "names must be strings".to_string()))?;
            let text = match v {
                Value::Null => String::new(),
                other => scalar_text(other).ok_or_else(|| {
                    self.error(
                        &format!("{key}.{name}"),
                        format!("expected a string, got {}", describe(other)),
                    )
                })?,
            };
            out.insert(name, text);
        }
        Ok(out)
    }

    fn triggers(&self, key: &str, value: &Value) -> Result<Vec<Trigger>, FuncFileError> {
        let items = match value {
            Value::Null => return Ok(Vec::new()),
            Value::Sequence(items) => items,
            other => {
                return Err(self.error(key, format!("expected a list, got {}", describe(other))))
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let Value::Mapping(map) = item else {
                    return Err(self.error(
                        &format!("{key}[{i}]"),
                        format!("expected a mapping, got {}", describe(item)),
                    ));
                };
                let get = |field: &str| -> Result<Option<String>, FuncFileError> {
                    match map.get(field) {
                        None => Ok(None),
                        Some(v) => self.string(&format!("{key}[{i}].{field}"), v),
                    }
                };
                Ok(Trigger {
                    name: get("name")?,
                    kind: get("type")?,
                    source: get("source")?,
                })
            })
            .collect()
    }
}

/// The text of a scalar (string, number, boolean); `None` for anything else.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(n) if n.as_i64().is_some_and(|v| v < 0) => "a negative number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FuncFile, FuncFileError> {
        FuncFile::parse(text, Path::new("/fns/hello/func.yaml"))
    }

    #[test]
    fn reads_what_fn_init_python_writes() -> Result<(), FuncFileError> {
        let file = parse(
            "schema_version: 20180708\nname: hello\nversion: 0.0.1\nruntime: python\n\
             build_image: fnproject/python:3.11-dev\nrun_image: fnproject/python:3.11\n\
             entrypoint: /python/bin/fdk /function/func.py handler\nmemory: 256\n",
        )?;
        assert_eq!(file.schema_version, Some(20180708));
        assert_eq!(file.name.as_deref(), Some("hello"));
        assert_eq!(file.version.as_deref(), Some("0.0.1"));
        assert_eq!(file.runtime_kind(), RuntimeKind::Python);
        assert_eq!(file.memory, Some(256));
        assert_eq!(file.timeout, None);
        assert_eq!(
            file.command_words(),
            ["/python/bin/fdk", "/function/func.py", "handler"]
        );
        assert!(file.other_keys.is_empty());
        Ok(())
    }

    #[test]
    fn reads_node_with_config_triggers_and_unknown_keys() -> Result<(), FuncFileError> {
        let file = parse(
            "schema_version: 20180708\nname: hello-node\nversion: 0.0.1\nruntime: node\n\
             entrypoint: node func.js\nmemory: 256\ntimeout: 45\nidle_timeout: 120\n\
             config:\n  GREETING: hi\n  PORT: 8080\n  DEBUG: true\n  EMPTY:\n\
             triggers:\n- name: hello\n  type: http\n  source: /hello\n\
             annotations:\n  oracle.com/oci/compartmentId: ocid1.compartment\n\
             some_future_key: [1, 2]\n",
        )?;
        assert_eq!(file.runtime_kind(), RuntimeKind::Node);
        assert_eq!(file.command_words(), ["node", "func.js"]);
        assert_eq!(file.timeout, Some(45));
        assert_eq!(file.idle_timeout, Some(120));
        assert_eq!(file.config.get("GREETING").map(String::as_str), Some("hi"));
        assert_eq!(file.config.get("PORT").map(String::as_str), Some("8080"));
        assert_eq!(file.config.get("DEBUG").map(String::as_str), Some("true"));
        assert_eq!(file.config.get("EMPTY").map(String::as_str), Some(""));
        assert_eq!(
            file.triggers,
            vec![Trigger {
                name: Some("hello".into()),
                kind: Some("http".into()),
                source: Some("/hello".into()),
            }]
        );
        assert_eq!(file.other_keys, ["annotations", "some_future_key"]);
        Ok(())
    }

    #[test]
    fn entrypoint_then_cmd_split_on_white_space() -> Result<(), FuncFileError> {
        let file = parse("runtime: go\nentrypoint: ./func  -v\ncmd: \"serve\tnow\"\n")?;
        assert_eq!(file.command_words(), ["./func", "-v", "serve", "now"]);
        assert_eq!(file.runtime_kind(), RuntimeKind::Other);
        let only_cmd = parse("cmd: com.example.fn.HelloFunction::handleRequest\n")?;
        assert_eq!(
            only_cmd.command_words(),
            ["com.example.fn.HelloFunction::handleRequest"]
        );
        Ok(())
    }

    #[test]
    fn numbers_as_strings_and_zero_timeouts() -> Result<(), FuncFileError> {
        let file = parse("version: 1.0\nname: 42\ntimeout: 0\nidle_timeout:\n")?;
        assert_eq!(file.version.as_deref(), Some("1.0"));
        assert_eq!(file.name.as_deref(), Some("42"));
        assert_eq!(file.timeout, None);
        assert_eq!(file.idle_timeout, None);
        Ok(())
    }

    #[test]
    fn json_function_files_parse_too() -> Result<(), FuncFileError> {
        let file = parse(r#"{"name": "j", "runtime": "python", "memory": 512}"#)?;
        assert_eq!(file.memory, Some(512));
        Ok(())
    }

    fn field_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(FuncFileError::Field { key, message, .. }) => (key, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn bad_types_name_the_file_and_key() {
        let (key, message) = field_error("memory: lots\n");
        assert_eq!(key, "memory");
        assert!(message.contains("whole number"), "{message}");
        assert!(message.contains("string"), "{message}");

        let (key, _) = field_error("timeout: -5\n");
        assert_eq!(key, "timeout");
        let (key, _) = field_error("timeout: 2.5\n");
        assert_eq!(key, "timeout");
        let (key, _) = field_error("entrypoint: [a, b]\n");
        assert_eq!(key, "entrypoint");
        let (key, _) = field_error("config: [a]\n");
        assert_eq!(key, "config");
        let (key, _) = field_error("config:\n  A: {b: 1}\n");
        assert_eq!(key, "config.A");
        let (key, _) = field_error("triggers:\n- 3\n");
        assert_eq!(key, "triggers[0]");

        let err = parse("memory: lots\n").map(|_| ()).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.starts_with("/fns/hello/func.yaml: memory:"), "{text}");
    }

    #[test]
    fn syntax_errors_and_non_mappings_are_errors() {
        assert!(matches!(
            parse("name: [unclosed\n"),
            Err(FuncFileError::Syntax { .. })
        ));
        assert!(matches!(
            parse("- a\n- b\n"),
            Err(FuncFileError::Field { .. })
        ));
        assert!(matches!(parse(""), Ok(f) if f.name.is_none()));
    }

    #[test]
    fn find_prefers_func_yaml_and_reports_missing() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        assert!(matches!(
            FuncFile::find(dir.path()),
            Err(FuncFileError::NotFound { .. })
        ));
        std::fs::write(dir.path().join("func.json"), "{}")?;
        std::fs::write(dir.path().join("func.yaml"), "name: y\n")?;
        assert_eq!(FuncFile::find(dir.path())?, dir.path().join("func.yaml"));
        assert_eq!(FuncFile::load(dir.path())?.name.as_deref(), Some("y"));
        Ok(())
    }
}
