//! A small document model: what the export says, before it is written as Markdown or
//! HTML. Texts here are plain (already redacted); each writer escapes for its format.

/// A piece of inline text.
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    Text(String),
    Strong(String),
    Code(String),
}

pub type Line = Vec<Span>;

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Level 1 is the title.
    Heading(u8, Line),
    Para(Line),
    /// Items, each with its depth (0 at the top level; a detail of the item before is 1).
    List(Vec<(u8, Line)>),
    /// A header row and the rows; every row has as many cells as the header.
    Table(Vec<String>, Vec<Vec<String>>),
    /// Text kept as written (the root-cause analysis), lines and all.
    Quote(String),
}

#[derive(Debug, Default)]
pub struct Doc {
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn heading(&mut self, level: u8, line: Line) {
        self.blocks.push(Block::Heading(level, line));
    }

    pub fn para(&mut self, line: Line) {
        self.blocks.push(Block::Para(line));
    }

    pub fn list(&mut self, items: Vec<Line>) {
        self.nested(items.into_iter().map(|i| (0, i)).collect());
    }

    pub fn nested(&mut self, items: Vec<(u8, Line)>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks
            .push(Block::Table(header.iter().map(|h| (*h).to_string()).collect(), rows));
    }

    pub fn quote(&mut self, text: &str) {
        self.blocks.push(Block::Quote(text.to_string()));
    }
}

pub fn text(s: impl Into<String>) -> Span {
    Span::Text(s.into())
}

pub fn strong(s: impl Into<String>) -> Span {
    Span::Strong(s.into())
}

pub fn code(s: impl Into<String>) -> Span {
    Span::Code(s.into())
}
