//! [`MethodSet`]: the HTTP methods a route accepts, as a one-byte bitset.
//!
//! OCI routes list methods from a closed set (`HEAD GET POST PUT PATCH DELETE OPTIONS`) or say
//! `ANY`. A bitset makes the per-request check a single AND and lets the router keep method
//! sets inline in its leaves, so method dispatch costs no allocation and no hashing.

use std::fmt;

use http::Method;

/// The methods OCI lets a route list, in the order the `Allow` header shows them.
const NAMED: [(u8, Method, &str); 7] = [
    (MethodSet::HEAD.0, Method::HEAD, "HEAD"),
    (MethodSet::GET.0, Method::GET, "GET"),
    (MethodSet::POST.0, Method::POST, "POST"),
    (MethodSet::PUT.0, Method::PUT, "PUT"),
    (MethodSet::PATCH.0, Method::PATCH, "PATCH"),
    (MethodSet::DELETE.0, Method::DELETE, "DELETE"),
    (MethodSet::OPTIONS.0, Method::OPTIONS, "OPTIONS"),
];

/// The bit of the `ANY` flag; the low seven bits are the named methods.
const ANY_BIT: u8 = 0x80;

/// A set of HTTP methods as OCI spells them: the seven named methods plus the `ANY` flag.
///
/// `ANY` is a flag rather than "all seven bits" because it also accepts methods outside the
/// list (`TRACE`, extension methods), which no combination of named bits does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MethodSet(u8);

/// A method name that is not one of OCI's (`ANY HEAD GET POST PUT PATCH DELETE OPTIONS`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method {0:?} (expected ANY, HEAD, GET, POST, PUT, PATCH, DELETE or OPTIONS)")]
pub struct UnknownMethod(pub String);

impl MethodSet {
    /// No method at all.
    pub const EMPTY: Self = Self(0);
    /// Every request method, including ones OCI cannot list (`TRACE`, extensions).
    pub const ANY: Self = Self(ANY_BIT);
    /// `HEAD` only.
    pub const HEAD: Self = Self(1);
    /// `GET` only.
    pub const GET: Self = Self(1 << 1);
    /// `POST` only.
    pub const POST: Self = Self(1 << 2);
    /// `PUT` only.
    pub const PUT: Self = Self(1 << 3);
    /// `PATCH` only.
    pub const PATCH: Self = Self(1 << 4);
    /// `DELETE` only.
    pub const DELETE: Self = Self(1 << 5);
    /// `OPTIONS` only.
    pub const OPTIONS: Self = Self(1 << 6);

    /// The set bit of a named method, or 0 for any other method. Used by the router to turn
    /// the request method into a mask once per lookup.
    pub(crate) fn bit_of(method: &Method) -> u8 {
        // A match on the constants compares the method's tag, with no string work.
        match *method {
            Method::HEAD => Self::HEAD.0,
            Method::GET => Self::GET.0,
            Method::POST => Self::POST.0,
            Method::PUT => Self::PUT.0,
            Method::PATCH => Self::PATCH.0,
            Method::DELETE => Self::DELETE.0,
            Method::OPTIONS => Self::OPTIONS.0,
            _ => 0,
        }
    }

    /// Whether a request whose method bit is `bit` (see [`Self::bit_of`]) is accepted.
    #[inline]
    pub(crate) fn accepts_bit(self, bit: u8) -> bool {
        self.0 & (ANY_BIT | bit) != 0
    }

    /// Adds `method`. Returns `false`, leaving the set unchanged, for a method OCI cannot
    /// list (anything but the seven named ones); use [`MethodSet::ANY`] to accept those.
    pub fn insert(&mut self, method: &Method) -> bool {
        match Self::bit_of(method) {
            0 => false,
            bit => {
                self.0 |= bit;
                true
            }
        }
    }

    /// Parses OCI method names (`"GET"`, `"ANY"`, ...; case-sensitive, as in the spec's enum).
    /// An empty list gives [`MethodSet::EMPTY`]; what a missing `methods` key means is the
    /// spec loader's decision, not this type's.
    pub fn from_names<I, S>(names: I) -> Result<Self, UnknownMethod>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::EMPTY;
        for name in names {
            let name = name.as_ref();
            let bit = if name == "ANY" {
                ANY_BIT
            } else {
                NAMED
                    .iter()
                    .find(|(_, _, n)| *n == name)
                    .map(|(bit, _, _)| *bit)
                    .ok_or_else(|| UnknownMethod(name.to_owned()))?
            };
            set.0 |= bit;
        }
        Ok(set)
    }

    /// Whether a request with `method` is accepted: `ANY` accepts everything.
    pub fn contains(&self, method: &Method) -> bool {
        self.accepts_bit(Self::bit_of(method))
    }

    /// Whether some request method is accepted by both sets; this is what makes two routes
    /// with the same template shape a conflict.
    pub fn overlaps(self, other: Self) -> bool {
        if self.is_any() {
            !other.is_empty()
        } else if other.is_any() {
            !self.is_empty()
        } else {
            self.0 & other.0 != 0
        }
    }

    /// Every method accepted by either set.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether no method is accepted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the `ANY` flag is set.
    pub fn is_any(self) -> bool {
        self.0 & ANY_BIT != 0
    }

    /// The named methods for an `Allow` header, in OCI's order; `ANY` yields all seven.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        let bits = if self.is_any() { !ANY_BIT } else { self.0 };
        NAMED
            .iter()
            .filter(move |(bit, _, _)| bits & bit != 0)
            .map(|(_, m, _)| m.clone())
    }

    fn names(self) -> impl Iterator<Item = &'static str> {
        let bits = if self.is_any() { !ANY_BIT } else { self.0 };
        NAMED
            .iter()
            .filter(move |(bit, _, _)| bits & bit != 0)
            .map(|(_, _, n)| *n)
    }
}

impl std::ops::BitOr for MethodSet {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for MethodSet {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

/// The `Allow` header value: `GET, POST`; `ANY` lists all seven named methods.
impl MethodSet {
    /// The set as an `Allow` header value (`GET, POST`).
    pub fn allow_header(&self) -> http::HeaderValue {
        // Method names are tokens, which are always valid header values.
        http::HeaderValue::try_from(self.to_string())
            .unwrap_or_else(|_| http::HeaderValue::from_static(""))
    }
}

impl fmt::Display for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl fmt::Debug for MethodSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("MethodSet(ANY)")
        } else {
            write!(f, "MethodSet({self})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_and_display() {
        let mut set = MethodSet::EMPTY;
        assert!(set.insert(&Method::POST));
        assert!(set.insert(&Method::GET));
        assert!(!set.insert(&Method::TRACE));
        assert!(set.contains(&Method::GET));
        assert!(!set.contains(&Method::PUT));
        assert!(!set.contains(&Method::TRACE));
        assert_eq!(set.to_string(), "GET, POST");
        assert_eq!(format!("{set:?}"), "MethodSet(GET, POST)");
    }

    #[test]
    fn any_accepts_everything_and_lists_seven() {
        let any = MethodSet::ANY;
        assert!(any.contains(&Method::TRACE));
        assert!(any.contains(&Method::from_bytes(b"PURGE").expect("valid method")));
        assert_eq!(
            any.to_string(),
            "HEAD, GET, POST, PUT, PATCH, DELETE, OPTIONS"
        );
        assert_eq!(any.iter().count(), 7);
    }

    #[test]
    fn from_names_and_unknown() {
        let set = MethodSet::from_names(["GET", "DELETE"]).expect("known names");
        assert_eq!(set, MethodSet::GET | MethodSet::DELETE);
        assert!(MethodSet::from_names(["ANY"]).expect("known").is_any());
        assert_eq!(
            MethodSet::from_names(Vec::<String>::new()),
            Ok(MethodSet::EMPTY)
        );
        let err = MethodSet::from_names(["get"]).expect_err("case-sensitive");
        assert_eq!(err, UnknownMethod("get".into()));
        assert!(err.to_string().contains("\"get\""));
    }

    #[test]
    fn overlaps() {
        assert!(MethodSet::GET.overlaps(MethodSet::GET | MethodSet::POST));
        assert!(!MethodSet::GET.overlaps(MethodSet::POST));
        assert!(MethodSet::ANY.overlaps(MethodSet::DELETE));
        assert!(MethodSet::OPTIONS.overlaps(MethodSet::ANY));
        assert!(MethodSet::ANY.overlaps(MethodSet::ANY));
        assert!(!MethodSet::ANY.overlaps(MethodSet::EMPTY));
        assert!(!MethodSet::EMPTY.overlaps(MethodSet::EMPTY));
    }
}
