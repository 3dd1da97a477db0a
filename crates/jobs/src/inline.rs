//! Inline rows, from the request body to the worker, without ever building
//! them.
//!
//! A `POST /exports` body of one-cell rows (`[0],`) costs about 20 times its
//! size once parsed into vectors of strings, so a 10 MiB body could take
//! 200 MB in the API, and again in the worker. Instead the body itself is
//! what is stored beside the job (it is bounded by `EXPORT_MAX_INLINE_BYTES`
//! already): the API checks its rows on the way in with [`RowShape`], which
//! visits them and keeps only counts, and the worker reads them back with
//! [`columns`] and then one row at a time with [`for_each_row`]. Both read cells through [`Cell`], so a
//! cell is turned into text by one rule.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One inline cell: a string, number, boolean or null (an empty cell).
/// Arrays and objects are refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Null,
}

impl Cell<'_> {
    /// The cell's text in the export.
    pub fn write_to(&self, out: &mut String) {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let _ = match self {
            Cell::Text(text) => {
                out.push_str(text);
                Ok(())
            }
            Cell::Bool(value) => write!(out, "{value}"),
            Cell::Int(value) => write!(out, "{value}"),
            Cell::Uint(value) => write!(out, "{value}"),
            Cell::Float(value) => write!(out, "{value}"),
            Cell::Null => Ok(()),
        };
    }
}

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
                Ok(Cell::Uint(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Float(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

/// What the API needs to know about inline rows, gathered while they are
/// parsed and dropped one by one: how many there are, and the first row whose
/// width differs from the first row's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowShape {
    rows: u64,
    first_width: Option<usize>,
    /// 1-based row number and width of the first row wider or narrower than row 1.
    first_odd: Option<(u64, usize)>,
}

/// A row without one cell per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaggedRow {
    /// 1-based.
    pub row: u64,
    pub got: usize,
    pub expected: usize,
}

impl RowShape {
    /// The number of rows, if every row has one cell per column; otherwise the first row that does not.
    pub fn check(&self, columns: usize) -> Result<u64, RaggedRow> {
        let ragged = |row, got| RaggedRow {
            row,
            got,
            expected: columns,
        };
        match (self.first_width, self.first_odd) {
            (Some(width), _) if width != columns => Err(ragged(1, width)),
            (_, Some((row, width))) => Err(ragged(row, width)),
            _ => Ok(self.rows),
        }
    }
}

impl<'de> Deserialize<'de> for RowShape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RowShape::default())
    }
}

/// The shape so far, taking in the rows after it.
impl<'de> Visitor<'de> for RowShape {
    type Value = RowShape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<RowShape, A::Error> {
        while let Some(width) = seq.next_element_seed(RowSeed(|_: Cell<'de>| {}))? {
            self.rows += 1;
            match self.first_width {
                None => self.first_width = Some(width),
                Some(first) if first != width && self.first_odd.is_none() => {
                    self.first_odd = Some((self.rows, width));
                }
                Some(_) => {}
            }
        }
        Ok(self)
    }
}

/// One row: hands each cell to the function, returns the row's width.
struct RowSeed<F>(F);

impl<'de, F: FnMut(Cell<'de>)> DeserializeSeed<'de> for RowSeed<F> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Cell<'de>)> Visitor<'de> for RowSeed<F> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row: an array of cells")
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
        let mut width = 0;
        while let Some(cell) = seq.next_element::<Cell<'de>>()? {
            (self.0)(cell);
            width += 1;
        }
        Ok(width)
    }
}

/// Why stored inline rows could not be read back.
#[derive(Debug)]
pub enum InlineError<E> {
    /// The stored body is not what the API accepted (it never is, unless the record was tampered with).
    Malformed(serde_json::Error),
    /// The row function failed.
    Stopped(E),
}

/// The columns of a stored request body.
pub fn columns(body: &[u8]) -> Result<Vec<String>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Columns {
        columns: Vec<String>,
    }
    serde_json::from_slice::<Columns>(body).map(|c| c.columns)
}

/// Reads the rows of a stored request body, handing each to `row` as text,
/// one at a time: nothing but one row is built. (The columns may come after
/// the rows, so [`columns`] reads them in a pass of its own.)
pub fn for_each_row<E, R>(body: &[u8], mut row: R) -> Result<(), InlineError<E>>
where
    R: FnMut(&[String]) -> Result<(), E>,
{
    let mut failure = None;
    let mut cells: Vec<String> = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let visitor = BodyVisitor {
        on_row: &mut row,
        cells: &mut cells,
        failure: &mut failure,
    };
    let result = deserializer.deserialize_map(visitor).and_then(|()| deserializer.end());
    match (failure, result) {
        (Some(failure), _) => Err(InlineError::Stopped(failure)),
        (None, result) => result.map_err(InlineError::Malformed),
    }
}

/// The body's top-level object: `rows` is streamed, every other field skipped.
struct BodyVisitor<'c, E> {
    on_row: &'c mut dyn FnMut(&[String]) -> Result<(), E>,
    cells: &'c mut Vec<String>,
    failure: &'c mut Option<E>,
}

impl<'de, E> Visitor<'de> for BodyVisitor<'_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an export request")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "rows" {
                map.next_value_seed(RowsSeed(&mut self))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct RowsSeed<'v, 'c, E>(&'v mut BodyVisitor<'c, E>);

impl<'de, E> DeserializeSeed<'de> for RowsSeed<'_, '_, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, E> Visitor<'de> for RowsSeed<'_, '_, E> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let visitor = self.0;
        loop {
            visitor.cells.clear();
            let cells = &mut *visitor.cells;
            let read = seq.next_element_seed(RowSeed(|cell: Cell<'de>| {
                let mut text = String::new();
                cell.write_to(&mut text);
                cells.push(text);
            }))?;
            if read.is_none() {
                return Ok(());
            }
            if let Err(failure) = (visitor.on_row)(visitor.cells) {
                *visitor.failure = Some(failure);
                return Err(de::Error::custom("export stopped"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Request {
        columns: Vec<String>,
        rows: RowShape,
    }

    fn rows_of(body: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let header = columns(body.as_bytes()).expect("columns");
        let mut rows = Vec::new();
        for_each_row(body.as_bytes(), |row| {
            rows.push(row.to_vec());
            Ok::<(), ()>(())
        })
        .expect("rows");
        (header, rows)
    }

    #[test]
    fn cells_are_read_back_as_the_api_accepted_them() {
        // The rows before the columns, escapes, every scalar, other fields around.
        let body = r#"{"rows":[["Zo\u00eb \"b\"",12.5,-5,7,true,null,1e3]],"format":"csv","columns":["a","b","c","d","e","f","g"],"title":"x"}"#;
        let (header, rows) = rows_of(body);
        assert_eq!(header, ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(rows, [["Zoë \"b\"", "12.5", "-5", "7", "true", "", "1000"]]);
        let request: Request = serde_json::from_str(body).expect("shape");
        assert_eq!(request.rows.check(request.columns.len()), Ok(1));
    }

    #[test]
    fn the_shape_names_the_first_ragged_row_and_refuses_nested_cells() {
        let shape = |rows: &str| serde_json::from_str::<RowShape>(rows);
        assert_eq!(shape("[]").expect("empty").check(2), Ok(0));
        assert_eq!(shape("[[1,2],[3,4]]").expect("even").check(2), Ok(2));
        let ragged = |row, got| Err(RaggedRow { row, got, expected: 2 });
        assert_eq!(shape("[[1,2],[3],[4,5,6]]").expect("parsed").check(2), ragged(2, 1));
        assert_eq!(shape("[[1],[3],[4]]").expect("parsed").check(2), ragged(1, 1));
        assert!(shape(r#"[[{"x":1}]]"#).is_err());
        assert!(shape("[[[1]]]").is_err());
        assert!(shape("[1]").is_err());
    }

    #[test]
    fn a_failing_row_function_stops_the_reading() {
        let body = r#"{"columns":["a"],"rows":[[1],[2],[3]]}"#;
        let mut seen = 0;
        let result = for_each_row(body.as_bytes(), |_| {
            seen += 1;
            if seen == 2 { Err("enough") } else { Ok(()) }
        });
        assert!(matches!(result, Err(InlineError::Stopped("enough"))));
        assert_eq!(seen, 2);
        assert!(columns(b"{\"rows\":[]}").is_err());
        assert!(matches!(
            for_each_row(b"{\"rows\":[[{}]]}", |_| Ok::<(), ()>(())),
            Err(InlineError::Malformed(_))
        ));
    }
}
