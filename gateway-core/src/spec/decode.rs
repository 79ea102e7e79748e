//! The decoder machinery: walks a `serde_json::Value` with a JSON path and reports every problem.
//!
//! serde's derive stops at the first error, which is the wrong experience for a deployment file:
//! a user with five mistakes should see five diagnostics in one run. So decoding is written by
//! hand over `serde_json::Value`, with three small pieces:
//!
//! * [`FromJson`] — "decode this value found at this path, reporting problems"; implemented for
//!   the primitives, `Vec`, `BTreeMap` and every model type;
//! * [`Obj`] — an object reader: `required`/`optional` fields (with documented aliases), a
//!   discriminator, and [`Obj::finish`], which reports every key nobody asked for;
//! * [`string_enum!`] — SDK string enums with "unknown value" diagnostics and hints.
//!
//! A decoder returns `None` when the value is unusable; the problem has then already been
//! recorded. Optional fields that fail are recorded and left out, so the enclosing object can
//! still be built and checked further: one bad field never hides the problems next to it.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde_json::{Map, Value};

use crate::diagnostics::{did_you_mean, join_path, Diagnostics, Kind};

/// Decodes a model value from JSON, reporting every problem into `d` at `path` (or below it).
pub(crate) trait FromJson: Sized {
    /// `None` when the value cannot be used; the reason is already in `d`.
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self>;
}

/// What a JSON value is, for "expected …, found …" messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reports a wrong JSON type; a hint is added when the value is merely quoted or unquoted.
pub(crate) fn type_error(d: &mut Diagnostics, path: &str, expected: &str, found: &Value) {
    let diag = d.error(
        path,
        format!("expected {expected}, found {}", describe(found)),
    );
    match found {
        Value::String(s) if expected != "a string" && is_plain_scalar(s) => {
            diag.hint(format!("write {s} without quotes"));
        }
        Value::Number(n) if expected == "a string" => {
            diag.hint(format!("quote it: \"{n}\""));
        }
        Value::Bool(b) if expected == "a string" => {
            diag.hint(format!("quote it: \"{b}\""));
        }
        _ => {}
    }
}

/// A string that would be a JSON number or boolean without its quotes.
fn is_plain_scalar(s: &str) -> bool {
    matches!(s, "true" | "false") || (!s.is_empty() && s.parse::<f64>().is_ok())
}

/// The path of an object member: `a.b` for identifier-like keys, `a["x/y"]` otherwise, so a
/// path stays unambiguous for map keys such as media types or header names.
pub(crate) fn key_path(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        join_path(prefix, key)
    } else {
        join_path(prefix, &format!("[{key:?}]"))
    }
}

/// The path of an array element: `a[3]`.
pub(crate) fn index_path(prefix: &str, index: usize) -> String {
    format!("{prefix}[{index}]")
}

/// Whether an error has been recorded at `path` or anywhere below it. Used to skip checks that
/// relate several parts of the document when one part failed to decode: a check on a
/// half-decoded value would report problems that are not there.
pub(crate) fn has_errors_under(d: &Diagnostics, path: &str) -> bool {
    d.errors().any(|e| {
        e.path == path
            || e.path
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

impl FromJson for String {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                type_error(d, path, "a string", other);
                None
            }
        }
    }
}

impl FromJson for bool {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            other => {
                type_error(d, path, "a boolean", other);
                None
            }
        }
    }
}

impl FromJson for f64 {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match value.as_f64() {
            Some(n) if value.is_number() => Some(n),
            _ => {
                type_error(d, path, "a number", value);
                None
            }
        }
    }
}

/// Integers: a fractional number or one outside the Rust type's range is reported, never
/// truncated (the SDK's Go decoder rejects both too).
macro_rules! integer_from_json {
    ($($t:ty),*) => {$(
        impl FromJson for $t {
            fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
                let Value::Number(n) = value else {
                    type_error(d, path, "an integer", value);
                    return None;
                };
                let fits = n
                    .as_i64()
                    .and_then(|i| <$t>::try_from(i).ok())
                    .or_else(|| n.as_u64().and_then(|u| <$t>::try_from(u).ok()));
                if fits.is_none() {
                    let message = if n.is_f64() {
                        format!("expected an integer, found {n}")
                    } else {
                        format!(
                            "expected an integer between {} and {}, found {n}",
                            <$t>::MIN,
                            <$t>::MAX
                        )
                    };
                    d.error(path, message);
                }
                fits
            }
        }
    )*};
}
integer_from_json!(u16, u32, u64, i64);

/// Every element is decoded (and every bad one reported); the list is usable only if all are.
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        decode_list(value, path, d, T::from_json)
    }
}

/// Decodes an array with a per-element decoder that may take extra context.
pub(crate) fn decode_list<T>(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    mut item: impl FnMut(&Value, &str, &mut Diagnostics) -> Option<T>,
) -> Option<Vec<T>> {
    decode_items(value, path, d, &mut item)?
        .into_iter()
        .collect()
}

/// Decodes an array keeping the failed elements as `None`, so callers can still check the good
/// ones under their real index (`routes[3]` stays `routes[3]`).
pub(crate) fn decode_items<T>(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    mut item: impl FnMut(&Value, &str, &mut Diagnostics) -> Option<T>,
) -> Option<Vec<Option<T>>> {
    let Value::Array(items) = value else {
        type_error(d, path, "an array", value);
        return None;
    };
    Some(
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(v, &index_path(path, i), d))
            .collect(),
    )
}

/// JSON objects used as maps (`parameters`, `content`); ordered so output is stable.
impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Object(map) = value else {
            type_error(d, path, "an object", value);
            return None;
        };
        let mut ok = true;
        let mut out = BTreeMap::new();
        for (key, v) in map {
            match T::from_json(v, &key_path(path, key), d) {
                Some(t) => {
                    out.insert(key.clone(), t);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// `isDefault` as the SDK's boolean, or as the docs' quoted placeholder (`"true"`), which is
/// accepted with an alias warning (reference 0.2).
pub(crate) fn lenient_bool(value: &Value, path: &str, d: &mut Diagnostics) -> Option<bool> {
    match value {
        Value::String(s) if s == "true" || s == "false" => {
            d.warning(
                Kind::Alias,
                path,
                format!(
                    "the quoted string \"{s}\" is the documentation's spelling of the boolean {s}"
                ),
            )
            .hint(format!("write {s} without quotes"));
            Some(s == "true")
        }
        other => bool::from_json(other, path, d),
    }
}

/// Matches a string against an enum's SDK spellings (and documented aliases), reporting an
/// unknown one with the most useful hint: a case fix, a near miss, or the full list.
pub(crate) fn match_name<T: Copy + PartialEq>(
    text: &str,
    path: &str,
    d: &mut Diagnostics,
    noun: &str,
    plural: &str,
    values: &[(&'static str, T)],
    aliases: &[(&'static str, T)],
) -> Option<T> {
    if let Some((_, v)) = values.iter().find(|(name, _)| *name == text) {
        return Some(*v);
    }
    if let Some((alias, v)) = aliases.iter().find(|(name, _)| *name == text) {
        let canonical = values
            .iter()
            .find(|(_, c)| c == v)
            .map_or("", |(name, _)| name);
        d.warning(
            Kind::Alias,
            path,
            format!("\"{alias}\" is the documentation's spelling of {noun} \"{canonical}\""),
        )
        .hint(format!("write {canonical}"));
        return Some(*v);
    }
    let names = || values.iter().map(|(name, _)| *name);
    let hint = if let Some(name) = names().find(|name| name.eq_ignore_ascii_case(text)) {
        let case = if name.chars().any(|c| c.is_ascii_lowercase()) {
            if name.chars().any(|c| c.is_ascii_uppercase()) {
                "case-sensitive"
            } else {
                "lower case"
            }
        } else {
            "upper case"
        };
        format!("{plural} are {case}: {name}")
    } else if let Some(name) = did_you_mean(text, names()) {
        format!("did you mean {name}?")
    } else {
        format!("expected one of {}", names().collect::<Vec<_>>().join(", "))
    };
    d.error(path, format!("unknown {noun} \"{text}\""))
        .hint(hint);
    None
}

/// Decodes a string enum value (see [`string_enum!`]).
pub(crate) fn decode_enum<T: Copy + PartialEq>(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    noun: &str,
    plural: &str,
    values: &[(&'static str, T)],
    aliases: &[(&'static str, T)],
) -> Option<T> {
    let text = String::from_json(value, path, d)?;
    match_name(&text, path, d, noun, plural, values, aliases)
}

/// Declares an SDK string enum: serializes to the SDK spelling and decodes with diagnostics.
///
/// ```ignore
/// string_enum! {
///     /// Doc.
///     pub enum RateKey: "rate key", "rate keys" {
///         /// Per client.
///         ClientIp = "CLIENT_IP",
///         Total = "TOTAL",
///     }
/// }
/// ```
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $noun:literal, $plural:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
        $( aliases { $( $alias:literal => $avariant:ident ),* $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in SDK order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The SDK spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::spec::decode::FromJson for $name {
            fn from_json(
                value: &::serde_json::Value,
                path: &str,
                d: &mut $crate::diagnostics::Diagnostics,
            ) -> Option<Self> {
                $crate::spec::decode::decode_enum(
                    value,
                    path,
                    d,
                    $noun,
                    $plural,
                    &[$(($text, $name::$variant)),+],
                    &[$($(($alias, $name::$avariant)),*)?],
                )
            }
        }
    };
}
pub(crate) use string_enum;

/// A JSON object being decoded: hands out its members by key, remembers which keys were asked
/// for, and reports the rest as unknown in [`Obj::finish`].
pub(crate) struct Obj<'v, 'd> {
    map: &'v Map<String, Value>,
    path: String,
    d: &'d mut Diagnostics,
    /// Canonical keys asked for: the vocabulary for "did you mean" hints.
    known: Vec<&'static str>,
    /// Alias spellings accepted in this object; not suggested, but not unknown either.
    accepted: Vec<&'static str>,
}

impl<'v, 'd> Obj<'v, 'd> {
    /// Starts reading `value`; `None` (reported) when it is not an object.
    pub(crate) fn new(value: &'v Value, path: &str, d: &'d mut Diagnostics) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Obj {
                map,
                path: path.to_owned(),
                d,
                known: Vec::new(),
                accepted: Vec::new(),
            }),
            other => {
                type_error(d, path, "an object", other);
                None
            }
        }
    }

    /// The object's own path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The path of member `key`.
    pub(crate) fn at(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    /// The diagnostics, for checks made while reading.
    pub(crate) fn d(&mut self) -> &mut Diagnostics {
        self.d
    }

    /// Whether `key` is present with a non-null value (without marking it as read).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// The raw value of `key`, marking it as read.
    pub(crate) fn raw(&mut self, key: &'static str) -> Option<&'v Value> {
        self.known.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A mandatory member: reports `missing required key "…"` at the object's path.
    pub(crate) fn required<T: FromJson>(&mut self, key: &'static str) -> Option<T> {
        self.required_with(key, T::from_json)
    }

    /// An optional member; `null` counts as absent, as in the SDK.
    pub(crate) fn optional<T: FromJson>(&mut self, key: &'static str) -> Option<T> {
        self.optional_with(key, T::from_json)
    }

    /// A mandatory member decoded by `f`.
    pub(crate) fn required_with<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(&Value, &str, &mut Diagnostics) -> Option<T>,
    ) -> Option<T> {
        self.known.push(key);
        match self.map.get(key) {
            Some(value) => f(value, &key_path(&self.path, key), self.d),
            None => {
                self.d
                    .error(self.path.clone(), format!("missing required key \"{key}\""));
                None
            }
        }
    }

    /// An optional member decoded by `f`.
    pub(crate) fn optional_with<T>(
        &mut self,
        key: &'static str,
        f: impl FnOnce(&Value, &str, &mut Diagnostics) -> Option<T>,
    ) -> Option<T> {
        self.optional_alias_with(key, &[], f)
    }

    /// An optional member that may also be written with a documented doc spelling (reference
    /// 0.2): the alias is accepted with a [`Kind::Alias`] warning naming the SDK spelling.
    pub(crate) fn optional_alias<T: FromJson>(
        &mut self,
        key: &'static str,
        aliases: &[&'static str],
    ) -> Option<T> {
        self.optional_alias_with(key, aliases, T::from_json)
    }

    /// [`Obj::optional_alias`] with a custom decoder.
    pub(crate) fn optional_alias_with<T>(
        &mut self,
        key: &'static str,
        aliases: &[&'static str],
        f: impl FnOnce(&Value, &str, &mut Diagnostics) -> Option<T>,
    ) -> Option<T> {
        self.known.push(key);
        self.accepted.extend_from_slice(aliases);
        let canonical = self.map.get(key).filter(|v| !v.is_null());
        let mut chosen = canonical.map(|v| (key, v));
        for &alias in aliases {
            let Some(value) = self.map.get(alias).filter(|v| !v.is_null()) else {
                continue;
            };
            let path = key_path(&self.path, alias);
            if let Some((first, _)) = chosen {
                self.d
                    .error(path, format!("\"{alias}\" repeats \"{first}\""))
                    .hint(format!("keep only {key}"));
            } else {
                self.d
                    .warning(
                        Kind::Alias,
                        path,
                        format!("\"{alias}\" is the documentation's spelling of \"{key}\""),
                    )
                    .hint(format!("write {key}"));
                chosen = Some((alias, value));
            }
        }
        let (name, value) = chosen?;
        f(value, &key_path(&self.path, name), self.d)
    }

    /// Reads the discriminator `key` (usually `type`) and returns the SDK name it selects.
    /// `aliases` maps documented doc spellings to SDK names (warned about).
    pub(crate) fn tag(
        &mut self,
        key: &'static str,
        noun: &str,
        plural: &str,
        values: &[&'static str],
        aliases: &[(&'static str, &'static str)],
    ) -> Option<&'static str> {
        self.known.push(key);
        let Some(value) = self.map.get(key) else {
            self.d
                .error(self.path.clone(), format!("missing required key \"{key}\""))
                .hint(format!("expected one of {}", values.join(", ")));
            return None;
        };
        let path = key_path(&self.path, key);
        let text = String::from_json(value, &path, self.d)?;
        let values: Vec<_> = values.iter().map(|v| (*v, *v)).collect();
        match_name(&text, &path, self.d, noun, plural, &values, aliases)
    }

    /// Accepts `key` without using it, with a warning saying why it has no effect.
    pub(crate) fn ignore(&mut self, key: &'static str, why: &str) {
        self.known.push(key);
        if self.map.contains_key(key) {
            let path = self.at(key);
            self.d.warning(Kind::Invalid, path, why.to_owned());
        }
    }

    /// Reports every key that was not asked for. The hint says where a misplaced policy
    /// belongs, else suggests a near miss, else lists the keys this object takes.
    pub(crate) fn finish(self) {
        for key in self.map.keys() {
            if self.known.contains(&key.as_str()) || self.accepted.contains(&key.as_str()) {
                continue;
            }
            let hint = misplaced_hint(key)
                .or_else(|| {
                    did_you_mean(key, self.known.iter().copied())
                        .map(|k| format!("did you mean {k}?"))
                })
                .unwrap_or_else(|| {
                    if self.known.is_empty() {
                        "this object takes no other keys".to_owned()
                    } else {
                        format!("known keys: {}", self.known.join(", "))
                    }
                });
            self.d
                .error(key_path(&self.path, key), "unknown key")
                .hint(hint);
        }
    }
}

/// Keys that exist in the specification, but somewhere else (reference 1.6), and keys seen in
/// hand-written specs that do not exist at all (reference 13, "Avoid as fixtures").
fn misplaced_hint(key: &str) -> Option<String> {
    let place = match key {
        "authentication" | "dynamicAuthentication" | "rateLimiting" | "usagePlans"
        | "mutualTls" => "is a deployment-level policy: move it to requestPolicies at the top level",
        "authorization"
        | "headerValidations"
        | "queryParameterValidations"
        | "bodyValidation"
        | "queryParameterTransformations"
        | "responseCacheLookup" => "is a route request policy: move it to the route's requestPolicies",
        "responseCacheStore" => "is a route response policy: move it to the route's responsePolicies",
        "headerTransformations" => {
            "is a route policy: put it in the route's requestPolicies or responsePolicies"
        }
        "cors" => "is a request policy: put it in requestPolicies (top level or route)",
        "path" | "methods" | "backend" => "is a route key: put it in an element of routes",
        "policies" => {
            return Some(
                "there is no policies key: use requestPolicies, responsePolicies or loggingPolicies"
                    .to_owned(),
            )
        }
        "specification" => {
            return Some(
                "the file is the ApiSpecification itself: remove the \"specification\" wrapper"
                    .to_owned(),
            )
        }
        "pathPrefix" => {
            return Some(
                "pathPrefix belongs to the deployment, not to the specification: configure it next to the spec"
                    .to_owned(),
            )
        }
        _ => return None,
    };
    Some(format!("{key} {place}"))
}

/// Reports a count over one of OCI's limits as a [`Kind::Limit`] warning:
/// `51 routes; OCI allows at most 50`.
pub(crate) fn limit_count(d: &mut Diagnostics, path: &str, count: usize, max: usize, what: &str) {
    if count > max {
        d.warning(
            Kind::Limit,
            path,
            format!("{count} {what}; OCI allows at most {max}"),
        );
    }
}

/// Reports a size over one of OCI's limits: `route path is 2001 characters; OCI allows at
/// most 2000`.
pub(crate) fn limit_size(
    d: &mut Diagnostics,
    path: &str,
    what: &str,
    size: usize,
    max: usize,
    unit: &str,
) {
    if size > max {
        d.warning(
            Kind::Limit,
            path,
            format!("{what} is {size} {unit}; OCI allows at most {max}"),
        );
    }
}

/// Reports a value outside `min..=max` as an error.
pub(crate) fn check_range<T: PartialOrd + Display>(
    d: &mut Diagnostics,
    path: &str,
    value: T,
    min: T,
    max: T,
) {
    if value < min || value > max {
        d.error(
            path,
            format!("must be between {min} and {max}, found {value}"),
        );
    }
}

/// Reports an empty mandatory list.
pub(crate) fn require_non_empty<T>(d: &mut Diagnostics, path: &str, items: &[T], why: &str) {
    if items.is_empty() {
        d.error(path, format!("must not be empty: {why}"));
    }
}
