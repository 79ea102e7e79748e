//! A function's `func.yaml` (Fn's own format; JSON is read as the YAML it also is), parsed as
//! the local runtime reads it before preparing a function.
//!
//! Checked besides "no panic": errors name the file; `0` seconds reads as "not set"; the
//! command is split into non-empty words without white space.

#![no_main]

use std::path::Path;

use gateway_fn_backend::FuncFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The runtime reads the file as UTF-8 text and refuses anything else before this point.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("functions/fuzz/func.yaml");
    let file = match FuncFile::parse(text, path) {
        Ok(file) => file,
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("functions/fuzz/func.yaml"), "{message}");
            return;
        }
    };
    assert_eq!(file.path, path);
    assert_ne!(file.timeout, Some(0));
    assert_ne!(file.idle_timeout, Some(0));
    let _ = file.runtime_kind();
    for word in file.command_words() {
        assert!(!word.is_empty());
        assert!(!word.contains(char::is_whitespace), "{word:?}");
    }
});
