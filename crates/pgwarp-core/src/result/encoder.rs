//! Rows to one result buffer. Runs on the engine's threads, so the JavaScript thread only
//! slices and parses.

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_protocol::types as wire;
use std::borrow::Cow;

use postgres_types::Type;

use super::exact::Exact;
use super::layout::{self, JsKind};
use super::plan::{Plan, ResultFormat, BINARY_CODE, TEXT_CODE};
use crate::error::Error;
use crate::types::json::{self, ElemFix};
use crate::types::{datetime, shaped, text, ConvertError};
use crate::wire::Column;

/// Accumulates rows, then lays them out as described in [`super::layout`].
pub struct ResultEncoder {
    columns: Vec<(String, Type)>,
    /// Per column: table OID, attribute number, type modifier and type size, as the server
    /// described it.
    origins: Vec<(u32, i16, i32, i16)>,
    plans: Vec<Plan>,
    /// Bind's result format codes: one for every column, or one per column when they differ.
    formats: Cow<'static, [i16]>,
    rows: u32,
    cells: Vec<u8>,
    nulls: Vec<u8>,
    strings: Vec<u8>,
    string_units: usize,
    bytes: Vec<u8>,
    json: Vec<Vec<u8>>,
    exact: Exact,
    scratch: String,
}

impl ResultEncoder {
    /// An encoder for a statement's columns in `format`. `named`: the columns are known
    /// before Bind, which then asks for each column in the format its plan needs
    /// ([`ResultEncoder::result_formats`]); otherwise every column comes in the one format
    /// of [`ResultFormat::unnamed_codes`].
    pub fn new(columns: &[Column], format: ResultFormat, named: bool) -> Self {
        let mut plans = Vec::with_capacity(columns.len());
        // Per column codes, kept only for the format that mixes them.
        let mut codes = Vec::new();
        for c in columns {
            let (plan, text) = Plan::choose(&c.type_, format, named);
            if matches!(format, ResultFormat::Pg { .. }) {
                codes.push(!text as i16);
            }
            plans.push(plan);
        }
        // One code when the columns agree, so the usual Bind stays as small as before.
        let formats = match format {
            ResultFormat::Text => Cow::Borrowed(TEXT_CODE),
            _ if codes.iter().all(|&c| c == 1) => Cow::Borrowed(BINARY_CODE),
            _ if codes.iter().all(|&c| c == 0) => Cow::Borrowed(TEXT_CODE),
            _ => Cow::Owned(codes),
        };
        let json = plans
            .iter()
            .zip(columns)
            .map(|(p, c)| {
                let mut start = Vec::new();
                if p.kind() == JsKind::Json {
                    p.json_start(&c.type_, &mut start);
                }
                start
            })
            .collect();
        let exact = Exact::new(
            &plans,
            matches!(format, ResultFormat::Binary { exact_json: true }),
        );
        ResultEncoder {
            columns: columns
                .iter()
                .map(|c| (c.name.clone(), c.type_.clone()))
                .collect(),
            origins: columns
                .iter()
                .map(|c| (c.table_oid, c.column_id, c.type_modifier, c.type_size))
                .collect(),
            plans,
            formats,
            rows: 0,
            cells: Vec::new(),
            nulls: Vec::new(),
            strings: Vec::new(),
            string_units: 0,
            bytes: Vec::new(),
            json,
            exact,
            scratch: String::new(),
        }
    }

    /// An encoder for a statement without columns.
    pub fn empty() -> Self {
        ResultEncoder::new(&[], ResultFormat::Binary { exact_json: false }, true)
    }

    /// Bind's result format codes for this statement's columns (1 binary, 0 text): a
    /// single code when every column takes the same.
    pub fn result_formats(&self) -> &[i16] {
        &self.formats
    }

    /// Rows encoded so far.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Bytes held so far, for result-size limits.
    pub fn size(&self) -> usize {
        self.cells.len()
            + self.strings.len()
            + self.bytes.len()
            + self.json.iter().map(Vec::len).sum::<usize>()
    }

    /// Appends one row, as the server sent it.
    pub fn push(&mut self, row: &DataRowBody) -> Result<(), Error> {
        let buf = row.buffer();
        let mut ranges = row.ranges();
        for i in 0..self.plans.len() {
            let range = ranges
                .next()
                .map_err(|e| Error::Internal(format!("reading column {i}: {e}")))?
                .ok_or_else(|| {
                    Error::Internal(format!("the server sent a row with only {i} columns"))
                })?;
            let value = range.map(|r| &buf[r]);
            self.push_value(i, value).map_err(|e| {
                Error::Internal(format!(
                    "decoding column {:?} ({}): {e}",
                    self.columns[i].0,
                    self.columns[i].1.name()
                ))
            })?;
        }
        self.rows += 1;
        Ok(())
    }

    fn push_string(&mut self, s: &[u8]) {
        let start = self.string_units;
        self.strings.extend_from_slice(s);
        self.string_units += layout::utf16_len(s);
        self.push_pair(start, self.string_units);
    }

    fn push_pair(&mut self, start: usize, end: usize) {
        self.cells.extend_from_slice(&(start as u32).to_le_bytes());
        self.cells.extend_from_slice(&(end as u32).to_le_bytes());
    }

    fn push_f64(&mut self, v: f64) {
        self.cells.extend_from_slice(&v.to_le_bytes());
    }

    fn push_value(&mut self, i: usize, value: Option<&[u8]>) -> Result<(), ConvertError> {
        let plan = &self.plans[i];
        let is_json = plan.kind() == JsKind::Json;
        // A shaped column's array starts with the shape: every value follows a comma.
        if is_json && (self.rows > 0 || plan.fix() == ElemFix::Shape) {
            self.json[i].push(b',');
        }
        let Some(raw) = value else {
            self.nulls.push(1);
            self.cells.extend_from_slice(&[0; 8]);
            if is_json {
                self.json[i].extend_from_slice(b"null");
            }
            return Ok(());
        };
        self.nulls.push(0);
        match plan {
            Plan::Bool => self.push_f64(wire::bool_from_sql(raw)? as u8 as f64),
            Plan::Int2 => self.push_f64(wire::int2_from_sql(raw)? as f64),
            Plan::Int4 => self.push_f64(wire::int4_from_sql(raw)? as f64),
            Plan::Oid => self.push_f64(wire::oid_from_sql(raw)? as f64),
            Plan::Float4 => {
                // The f64 nearest the float4's shortest decimal: 0.1::float4 reads as 0.1, as
                // drivers that parse the text do, not as 0.10000000149011612.
                let v = wire::float4_from_sql(raw)?;
                self.push_f64(format!("{v}").parse().unwrap_or(v as f64));
            }
            Plan::Float8 => self.push_f64(wire::float8_from_sql(raw)?),
            Plan::Int8 => {
                let v = wire::int8_from_sql(raw)?;
                self.cells.extend_from_slice(&v.to_le_bytes());
            }
            Plan::Timestamp => {
                let us = wire::timestamp_from_sql(raw)?;
                self.push_f64(datetime::timestamp_to_unix_ms(us));
            }
            Plan::Bytea => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(raw);
                self.push_pair(start, self.bytes.len());
            }
            Plan::RawText => {
                std::str::from_utf8(raw)?;
                self.push_string(raw);
            }
            Plan::Rendered => {
                let mut s = std::mem::take(&mut self.scratch);
                s.clear();
                let r = text::write_text(&self.columns[i].1, raw, &mut s);
                self.push_string(s.as_bytes());
                self.scratch = s;
                r?;
            }
            Plan::Json | Plan::Array(_) => {
                self.cells.extend_from_slice(&[0; 8]);
                let at = self.json[i].len();
                match plan {
                    Plan::Array(elem) => json::write_array(elem, raw, &mut self.json[i])?,
                    _ => json::write_document(&self.columns[i].1, raw, &mut self.json[i])?,
                }
                let (json, strings) = (&mut self.json[i], &mut self.strings);
                let units = &mut self.string_units;
                self.exact.set_aside(i, self.rows, json, at, strings, units);
            }
            Plan::Shaped(ty) => {
                self.cells.extend_from_slice(&[0; 8]);
                let ty = ty.clone();
                let mut s = std::mem::take(&mut self.scratch);
                let r = shaped::write_shaped(&ty, raw, &mut self.json[i], &mut s);
                self.scratch = s;
                r?;
            }
        }
        Ok(())
    }

    /// Lays out the buffer. `total` is the number of rows the statement returned or affected;
    /// `command` the statement's command word (`SELECT`, `INSERT`...).
    pub fn finish(mut self, total: u64, command: &str) -> Vec<u8> {
        self.take_page(total, command, None)
    }

    /// Lays out the rows so far as one page and empties the encoder for the next page.
    /// `cursor` is set when more pages follow (the JavaScript side asks for them by it).
    pub fn take_page(&mut self, total: u64, command: &str, cursor: Option<u32>) -> Vec<u8> {
        let page = self.layout(total, command, cursor);
        self.rows = 0;
        self.cells.clear();
        self.nulls.clear();
        self.strings.clear();
        self.string_units = 0;
        self.bytes.clear();
        self.exact.clear();
        for (i, plan) in self.plans.iter().enumerate() {
            self.json[i].clear();
            if plan.kind() == JsKind::Json {
                plan.json_start(&self.columns[i].1, &mut self.json[i]);
            }
        }
        page
    }

    fn layout(&mut self, total: u64, command: &str, cursor: Option<u32>) -> Vec<u8> {
        // JSON columns join the string region after the per-cell strings. They are copied
        // from their own buffers straight into the page: a page of documents is mostly JSON,
        // and going through `strings` first copied all of it once more.
        let mut json_ranges = vec![(0u32, 0u32); self.plans.len()];
        let mut ascii = self.strings.is_ascii();
        let mut strings_len = self.strings.len();
        let mut units = self.string_units;
        for (i, (text, range)) in self.json.iter_mut().zip(&mut json_ranges).enumerate() {
            if text.is_empty() {
                continue;
            }
            self.exact.close(i, text);
            text.push(b']');
            let text_ascii = text.is_ascii();
            ascii &= text_ascii;
            let start = units;
            units += if text_ascii {
                text.len()
            } else {
                layout::utf16_len(text)
            };
            strings_len += text.len();
            *range = (start as u32, units as u32);
        }

        let names_len: usize = self.columns.iter().map(|(n, _)| n.len()).sum();
        let descriptors =
            layout::HEADER + command.len() + self.columns.len() * layout::COLUMN + names_len;
        let cells_at = descriptors.next_multiple_of(8);
        let nulls_at = cells_at + self.cells.len();
        let strings_at = nulls_at + self.nulls.len();
        let bytes_at = strings_at + strings_len;
        let mut out = Vec::with_capacity(bytes_at + self.bytes.len() + layout::SPARE_TAIL);

        let mut flags = if ascii { layout::FLAG_ASCII } else { 0 };
        if cursor.is_some() {
            flags |= layout::FLAG_MORE;
        }
        out.push(layout::STATUS_OK);
        out.push(flags);
        out.extend_from_slice(&(self.columns.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&(total as f64).to_le_bytes());
        out.extend_from_slice(&self.shape_hash().to_le_bytes());
        for v in [
            cells_at,
            nulls_at,
            strings_at,
            strings_len,
            bytes_at,
            command.len(),
            cursor.unwrap_or(0) as usize,
        ] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(command.as_bytes());
        for (i, (name, ty)) in self.columns.iter().enumerate() {
            out.extend_from_slice(&ty.oid().to_le_bytes());
            out.push(self.plans[i].kind() as u8);
            out.push(self.plans[i].fix() as u8 | self.exact.mark(i));
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&json_ranges[i].0.to_le_bytes());
            out.extend_from_slice(&json_ranges[i].1.to_le_bytes());
            let (table, number, modifier, size) = self.origins[i];
            out.extend_from_slice(&table.to_le_bytes());
            out.extend_from_slice(&modifier.to_le_bytes());
            out.extend_from_slice(&number.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
        }
        out.resize(cells_at, 0);
        out.extend_from_slice(&self.cells);
        out.extend_from_slice(&self.nulls);
        out.extend_from_slice(&self.strings);
        for text in &self.json {
            out.extend_from_slice(text);
        }
        out.extend_from_slice(&self.bytes);
        out
    }

    /// FNV-1a over what a JavaScript decoder depends on.
    fn shape_hash(&self) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= *b as u32;
                h = h.wrapping_mul(0x0100_0193);
            }
        };
        for (i, (name, ty)) in self.columns.iter().enumerate() {
            eat(&ty.oid().to_le_bytes());
            eat(&[self.plans[i].kind() as u8, self.plans[i].fix() as u8]);
            eat(name.as_bytes());
            eat(&[0]);
        }
        h
    }
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
