//! Duplicate object keys. JSON parsers keep one of two equal keys silently (serde_json the
//! last); in a specification that can drop a whole policy (`requestPolicies` written twice
//! loses the authentication of the first), so every duplicate is found, with its path.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;

use super::decode::{index_path, key_path};

/// The JSON paths of every key that repeats an earlier key of the same object, in document
/// order. Text that is not JSON yields what was found before the error (the caller reports
/// the syntax error itself).
pub(crate) fn duplicate_keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = Walk {
        path: String::new(),
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

/// Walks one value at `path`, recording duplicate keys below it.
struct Walk<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let element = Walk {
                path: index_path(&self.path, index),
                found: &mut *self.found,
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = key_path(&self.path, &key);
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duplicate_is_found_with_its_path() {
        let text = r#"{
            "requestPolicies": {"a": 1},
            "routes": [ {"path": "/x", "backend": {"type": "A", "type": "B"}, "path": "/y"} ],
            "requestPolicies": {},
            "x/y": {"k": [1, {"k": 2, "k": 3}]}
        }"#;
        assert_eq!(
            duplicate_keys(text),
            [
                "routes[0].backend.type",
                "routes[0].path",
                "requestPolicies",
                "[\"x/y\"].k[1].k",
            ]
        );
        assert!(duplicate_keys(r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#).is_empty());
        assert!(duplicate_keys("{not json").is_empty());
    }
}
