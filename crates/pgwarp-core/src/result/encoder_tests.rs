use postgres_types::Type;

use super::*;

fn columns(types: &[Type]) -> Vec<Column> {
    types
        .iter()
        .map(|t| Column {
            name: "c".into(),
            type_: t.clone(),
            table_oid: 0,
            column_id: 0,
            type_modifier: -1,
            type_size: -1,
        })
        .collect()
}

#[test]
fn bind_asks_per_column_only_when_formats_differ() {
    let cols = columns(&[Type::INT4, Type::DATE, Type::INT8]);
    let codes = |format, named| {
        ResultEncoder::new(&cols, format, named)
            .result_formats()
            .to_vec()
    };
    assert_eq!(codes(ResultFormat::Binary { exact_json: false }, true), [1]);
    assert_eq!(codes(ResultFormat::Text, true), [0]);
    assert_eq!(codes(ResultFormat::Pg { server_text: 0 }, true), [1]);
    // int4 (bit 2) has a user parser: that column alone comes in text.
    let int4 = ResultFormat::Pg {
        server_text: 1 << 2,
    };
    assert_eq!(codes(int4, true), [0, 1, 1]);
    assert_eq!(codes(int4, false), [1]);
    let both = ResultFormat::Pg {
        server_text: 1 << 2 | 1 << 4,
    };
    assert_eq!(codes(both, true), [0, 1, 0]);
    let text_only = columns(&[Type::INT4]);
    let e = ResultEncoder::new(&text_only, int4, true);
    assert_eq!(e.result_formats(), [0]);
    assert_eq!(ResultEncoder::empty().result_formats(), [1]);
}

#[test]
fn descriptors_carry_the_type_size() {
    let mut cols = columns(&[Type::INT4]);
    cols[0].type_size = 4;
    let page = ResultEncoder::new(&cols, ResultFormat::Binary { exact_json: false }, true)
        .finish(0, "SELECT 0");
    let at = layout::HEADER + "SELECT 0".len();
    assert_eq!(i16::from_le_bytes([page[at + 26], page[at + 27]]), 4);
}

/// A DataRow with the given cells (`None`: NULL), as the server sends it.
fn row(cells: &[Option<&[u8]>]) -> DataRowBody {
    match crate::fuzz_targets::data_row(cells) {
        Some(postgres_protocol::message::backend::Message::DataRow(r)) => r,
        _ => panic!("not a DataRow"),
    }
}

/// The text of a page's first column's JSON array, its fix byte, and its string region.
fn first_json(page: &[u8], command: &str) -> (String, u8, String) {
    let u32_at = |at: usize| u32::from_le_bytes(page[at..at + 4].try_into().unwrap()) as usize;
    let strings = &page[u32_at(28)..u32_at(28) + u32_at(32)];
    let strings = String::from_utf8(strings.to_vec()).unwrap();
    let desc = layout::HEADER + command.len();
    // The string region is ASCII in these tests: UTF-16 units are bytes.
    let json = strings[u32_at(desc + 8)..u32_at(desc + 12)].to_string();
    (json, page[desc + 5], strings)
}

#[test]
fn exact_mode_sets_long_integers_aside_per_page() {
    let cols = columns(&[Type::JSONB, Type::JSON_ARRAY]);
    let exact = ResultFormat::Binary { exact_json: true };
    let mut e = ResultEncoder::new(&cols, exact, true);
    let array = |doc: &str| {
        // One dimension, no nulls, json elements; one element.
        let mut a = Vec::new();
        for v in [1i32, 0, 114, 1, 1] {
            a.extend_from_slice(&v.to_be_bytes());
        }
        a.extend_from_slice(&(doc.len() as i32).to_be_bytes());
        a.extend_from_slice(doc.as_bytes());
        a
    };
    let big = r#"{"n": 12345678901234567890}"#;
    let jsonb = |doc: &str| [&[1u8][..], doc.as_bytes()].concat();
    e.push(&row(&[Some(&jsonb(r#"{"a": 1}"#)), Some(&array("[1]"))]))
        .unwrap();
    e.push(&row(&[Some(&jsonb(big)), Some(&array(big))]))
        .unwrap();
    e.push(&row(&[None, None])).unwrap();
    let page = e.take_page(3, "", Some(7));
    let (json, fix, strings) = first_json(&page, "");
    assert_eq!(
        json,
        format!("[{{\"a\": 1}},null,null,[1,0,{}]]", big.len())
    );
    assert_eq!(fix, layout::FIX_EXACT);
    assert_eq!(&strings[..big.len()], big);
    // The json[] value is set aside whole, after the jsonb document.
    assert!(strings[big.len()..].starts_with(&format!("[{big}]")));

    // The next page has nothing to set aside: no trailer, no mark.
    e.push(&row(&[Some(&jsonb(r#"[900719925474099]"#)), None]))
        .unwrap();
    let page = e.finish(4, "SELECT 4");
    let (json, fix, _) = first_json(&page, "SELECT 4");
    assert_eq!((json.as_str(), fix), ("[[900719925474099]]", 0));

    // Without the bit, documents stay where they are.
    let mut e = ResultEncoder::new(&cols, ResultFormat::Binary { exact_json: false }, true);
    e.push(&row(&[Some(&jsonb(big)), None])).unwrap();
    let page = e.finish(1, "SELECT 1");
    let (json, fix, _) = first_json(&page, "SELECT 1");
    assert_eq!((json, fix), (format!("[{big}]"), 0));
}
