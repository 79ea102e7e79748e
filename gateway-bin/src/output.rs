//! Writing results to stdout.

use std::io::Write;

/// Writes to stdout; a reader that went away (`gateway routes | head`) is not an error.
pub(crate) fn out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Renders rows as left-aligned columns under a header.
pub(crate) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let mut line = |cells: [&str; N]| {
        let mut row = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                row.push_str(cell);
            } else {
                row.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.push_str(row.trim_end());
        text.push('\n');
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_lines_trimmed() {
        let t = table(
            ["A", "LONGER"],
            &[
                ["xyz".to_owned(), "1".to_owned()],
                ["q".to_owned(), String::new()],
            ],
        );
        assert_eq!(t, "A    LONGER\nxyz  1\nq\n");
    }
}
