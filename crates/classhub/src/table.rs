//! `--output table`: a command's JSON result as a table for people.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

/// A list (`{"items": […], …}` or an array) as one row per item and a column per field,
/// followed by the other fields of the page (`total: 3`); an object as name/value rows.
pub fn render(out: &Value) -> String {
    match out {
        Value::Array(items) => rows(items),
        Value::Object(fields) => match fields.get("items") {
            Some(Value::Array(items)) => {
                let rest: Vec<String> =
                    fields.iter().filter(|(k, _)| *k != "items").map(|(k, v)| format!("{k}: {}", cell(v))).collect();
                format!("{}\n{}", rows(items), rest.join("  "))
            }
            _ => {
                let mut table = table();
                table.set_header(["field", "value"]);
                for (k, v) in fields {
                    table.add_row([k.clone(), cell(v)]);
                }
                table.to_string()
            }
        },
        other => cell(other),
    }
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    t
}

fn rows(items: &[Value]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for item in items {
        for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    let mut table = table();
    table.set_header(columns.iter().copied());
    for item in items {
        table.add_row(columns.iter().map(|c| item.get(*c).map_or_else(String::new, cell)));
    }
    table.to_string()
}

/// A value as a cell: text without quotes, null empty, anything else as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_a_row_per_item_then_its_totals() {
        let page = json!({"items": [{"id": 1, "name": "Ada", "email": null}, {"id": 2, "name": "Bo", "email": "b@x"}],
                          "total": 2, "limit": 100, "offset": 0});
        let text = render(&page);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("id") && lines[1].contains("name") && lines[1].contains("email"), "{text}");
        assert!(text.contains("│ 1  ┆ Ada  ┆       │"), "{text}");
        assert!(text.contains("│ 2  ┆ Bo   ┆ b@x   │"), "{text}");
        assert_eq!(lines.last(), Some(&"total: 2  limit: 100  offset: 0"));
    }

    #[test]
    fn an_object_is_a_row_per_field() {
        let text = render(&json!({"id": 7, "token": "chk_x"}));
        assert!(text.contains("│ id    ┆ 7     │") && text.contains("│ token ┆ chk_x │"), "{text}");
    }
}
