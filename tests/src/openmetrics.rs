//! `/metrics` read as a scraper reads it: OpenMetrics text parsed into families and samples,
//! so that tests assert names, labels and values rather than the layout of lines.

use std::collections::BTreeMap;

/// One sample: its name (with any `_total`, `_bucket`… suffix), labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Each family's `# TYPE`, by family name.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Parses `text`, panicking on anything a scraper would refuse: a sample before its
    /// family's `# TYPE`, a family typed twice, a sample name its family's type does not allow,
    /// a malformed line, anything after `# EOF` or no `# EOF` at all.
    pub fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition::default();
        let mut family: Option<(String, String)> = None;
        let mut lines = text.lines();
        let mut ended = false;
        for line in lines.by_ref() {
            if line == "# EOF" {
                ended = true;
                break;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
                let previous = exposition.types.insert(name.to_owned(), kind.to_owned());
                assert!(previous.is_none(), "{name} is typed twice");
                family = Some((name.to_owned(), kind.to_owned()));
            } else if !line.starts_with('#') {
                let sample = parse_sample(line);
                let (name, kind) = family.as_ref().unwrap_or_else(|| panic!("untyped: {line}"));
                let suffix = sample
                    .name
                    .strip_prefix(name.as_str())
                    .unwrap_or_else(|| panic!("{line} is not of family {name}"));
                let allowed: &[&str] = match kind.as_str() {
                    "counter" => &["_total"],
                    "gauge" => &[""],
                    "info" => &["_info"],
                    "histogram" => &["_bucket", "_sum", "_count"],
                    other => panic!("unexpected type {other}"),
                };
                assert!(allowed.contains(&suffix), "{line}: {kind} {name}");
                exposition.samples.push(sample);
            }
        }
        assert!(ended, "no # EOF");
        assert_eq!(lines.next(), None, "text after # EOF");
        exposition
    }

    /// The value of the sample `name` whose labels are exactly `labels`, in any order.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .map(|s| s.value)
    }

    /// Every sample named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// `name{key="value",…} value`, label values unescaped (`\\`, `\"`, `\n`).
fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("a sample line");
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("a number in {line}")),
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Sample {
            name: series.to_owned(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("{line}"),
                },
                c => value.push(c),
            }
        }
        assert!(labels.insert(key, value).is_none(), "a label twice: {line}");
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            _ => panic!("{line}"),
        }
    }
    assert_eq!(chars.next(), None, "{line}");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}
