//! [`IamError`]: one problem in the IAM configuration, pointing at a column of the offending text.

use std::fmt;

use super::lexer::SyntaxError;

/// One problem found while building the IAM model (or a warning, see [`super::Iam::warnings`]).
///
/// `Display` renders the location, message and hint on one line, then the text with a caret
/// under `column`:
///
/// ```text
/// iam.policy[0] "fn-policy" statement 1: unknown verb "usee" (hint: did you mean "use"? verbs: inspect, read, use, manage)
///   Allow dynamic-group gw to usee functions-family in compartment apps
///                             ^
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct IamError {
    /// Where in the config: `iam.policy[0] "fn-policy" statement 2`,
    /// `iam.dynamic_group[1] "gw" rule 0`, `compartment[2]` (all indices 0-based).
    pub location: String,
    /// The statement, rule or value the column refers to, exactly as configured.
    pub text: String,
    /// 1-based character column into `text` (a line break counts as one character;
    /// `text.chars().count() + 1` means "at the end").
    pub column: usize,
    /// What is wrong, e.g. `unknown verb "usee"`.
    pub message: String,
    /// How to fix it, when there is a likely fix (a near-miss spelling, the valid choices).
    pub hint: Option<String>,
}

impl IamError {
    pub(crate) fn new(
        location: impl Into<String>,
        text: impl Into<String>,
        column: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        IamError {
            location: location.into(),
            text: text.into(),
            column,
            message: message.into(),
            hint,
        }
    }

    pub(crate) fn from_syntax(location: &str, text: &str, e: SyntaxError) -> Self {
        IamError::new(location, text, e.col, e.message, e.hint)
    }
}

impl fmt::Display for IamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, f)
    }
}

fn render(e: &IamError, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let IamError {
        location,
        text,
        column,
        message,
        hint,
    } = e;
    write!(f, "{location}: {message}")?;
    if let Some(h) = hint {
        write!(f, " (hint: {h})")?;
    }
    if text.is_empty() {
        return Ok(());
    }
    // Statements may span lines; every whitespace character becomes one space so the caret,
    // counted in characters, stays under the right one.
    let flat: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    write!(
        f,
        "\n  {}\n  {}^",
        flat.trim_end(),
        " ".repeat(column.saturating_sub(1))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_caret_under_column() {
        let e = IamError::new(
            "iam.policy[0] \"fn-policy\" statement 1",
            "Allow dynamic-group gw to usee\n functions-family in compartment apps",
            27,
            "unknown verb \"usee\"",
            Some("did you mean \"use\"? verbs: inspect, read, use, manage".into()),
        );
        let s = e.to_string();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "iam.policy[0] \"fn-policy\" statement 1: unknown verb \"usee\" (hint: did you mean \"use\"? verbs: inspect, read, use, manage)");
        assert_eq!(
            lines[1],
            "  Allow dynamic-group gw to usee  functions-family in compartment apps"
        );
        assert_eq!(lines[2].find('^'), Some(2 + 26));
        assert_eq!(&lines[1][28..32], "usee");
    }
}
