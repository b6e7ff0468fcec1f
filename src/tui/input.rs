//! Text entry for dialogs: one line (reasons, typed confirmations, notes) and several
//! lines (the root-cause analysis).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key did to an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Changed,
    Submit,
    Cancel,
    Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
    /// Cursor position in characters.
    pub cursor: usize,
}

impl LineInput {
    pub fn with_text(text: &str) -> Self {
        Self {
            text: text.to_string(),
            cursor: text.chars().count(),
        }
    }

    /// Inserts text at the cursor (a paste).
    pub fn insert(&mut self, text: &str) {
        let at = self.byte_at(self.cursor);
        self.text.insert_str(at, text);
        self.cursor += text.chars().count();
    }

    fn byte_at(&self, char_index: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_index)
            .map_or(self.text.len(), |(i, _)| i)
    }

    pub fn handle(&mut self, key: &KeyEvent) -> Edit {
        match key.code {
            KeyCode::Enter => Edit::Submit,
            KeyCode::Esc => Edit::Cancel,
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.text.clear();
                self.cursor = 0;
                Edit::Changed
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                Edit::Changed
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
                Edit::Changed
            }
            KeyCode::Delete if self.cursor < self.text.chars().count() => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
                Edit::Changed
            }
            KeyCode::Left => {
                self.cursor = self.cursor.saturating_sub(1);
                Edit::Changed
            }
            KeyCode::Right => {
                self.cursor = (self.cursor + 1).min(self.text.chars().count());
                Edit::Changed
            }
            KeyCode::Home => {
                self.cursor = 0;
                Edit::Changed
            }
            KeyCode::End => {
                self.cursor = self.text.chars().count();
                Edit::Changed
            }
            _ => Edit::Ignored,
        }
    }
}

/// Several lines; Ctrl-S saves, Esc cancels, Enter breaks the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextArea {
    pub lines: Vec<LineInput>,
    pub row: usize,
}

impl Default for TextArea {
    fn default() -> Self {
        Self {
            lines: vec![LineInput::default()],
            row: 0,
        }
    }
}

impl TextArea {
    /// A text with the cursor at the end of its first line.
    pub fn with_lines(lines: &[String]) -> Self {
        let mut lines: Vec<LineInput> = lines.iter().map(|l| LineInput::with_text(l)).collect();
        if lines.is_empty() {
            lines.push(LineInput::default());
        }
        Self { lines, row: 0 }
    }

    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn handle(&mut self, key: &KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => Edit::Submit,
            KeyCode::Esc => Edit::Cancel,
            KeyCode::Enter => {
                let line = &mut self.lines[self.row];
                let at = line.byte_at(line.cursor);
                let rest = line.text.split_off(at);
                self.row += 1;
                self.lines.insert(self.row, LineInput { text: rest, cursor: 0 });
                Edit::Changed
            }
            KeyCode::Backspace if self.lines[self.row].cursor == 0 && self.row > 0 => {
                let line = self.lines.remove(self.row);
                self.row -= 1;
                let prev = &mut self.lines[self.row];
                prev.cursor = prev.text.chars().count();
                prev.text.push_str(&line.text);
                Edit::Changed
            }
            KeyCode::Up if self.row > 0 => {
                let col = self.lines[self.row].cursor;
                self.row -= 1;
                let line = &mut self.lines[self.row];
                line.cursor = col.min(line.text.chars().count());
                Edit::Changed
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                let col = self.lines[self.row].cursor;
                self.row += 1;
                let line = &mut self.lines[self.row];
                line.cursor = col.min(line.text.chars().count());
                Edit::Changed
            }
            _ => match self.lines[self.row].handle(key) {
                Edit::Submit | Edit::Cancel => Edit::Ignored,
                other => other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn a_line_edits_in_place() {
        let mut l = LineInput::default();
        for c in "api.exmple.com".chars() {
            l.handle(&key(KeyCode::Char(c)));
        }
        for _ in 0..8 {
            l.handle(&key(KeyCode::Left));
        }
        l.handle(&key(KeyCode::Char('a')));
        assert_eq!(l.text, "api.example.com");
        assert_eq!(l.handle(&key(KeyCode::Enter)), Edit::Submit);
    }

    #[test]
    fn a_text_area_breaks_and_joins_lines() {
        let mut t = TextArea::default();
        for c in "ab".chars() {
            t.handle(&key(KeyCode::Char(c)));
        }
        t.handle(&key(KeyCode::Left));
        t.handle(&key(KeyCode::Enter));
        assert_eq!(t.text(), "a\nb");
        t.handle(&key(KeyCode::Home));
        t.handle(&key(KeyCode::Backspace));
        assert_eq!(t.text(), "ab");
        assert_eq!(
            t.handle(&KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Edit::Submit
        );
    }
}
