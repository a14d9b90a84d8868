//! Formats: the bytes of a message's value and key become datums of the declared columns.
//!
//! - `JSON`: an object; fields are matched to columns by name, ignoring ASCII case; a
//!   missing field is NULL; extra fields are ignored. Values are cast as Postgres casts
//!   `jsonb` and text ([`json_to_datum`]).
//! - `DELIMITED`: one CSV record (RFC 4180 quoting); fields are matched to the value
//!   columns by position, an unquoted empty field is NULL (as in Postgres' `COPY ... CSV`),
//!   and each field is read with the column type's input function.
//! - `KAFKA`: the raw value is the one value column (text: it must be UTF-8; bytea: as is).
//! - `DEBEZIUM_JSON`: a change event, with or without the `schema`/`payload` wrapper;
//!   `before` and `after` are decoded like `JSON` values.
//!
//! JSON is read by repr's `jsonb` parser, so numbers keep their exact `numeric` text
//! (`12.50` stays `12.50`), nesting is bounded, and errors read as Postgres' do.
//!
//! Invariant: decoding never panics on any input; every failure is a message naming what
//! was wrong (and the column, when one is to blame).

use chrono::DateTime;

use eddy_repr::copy::split_csv_record;
use eddy_repr::strconv::json::{canonical_number, JsonField};
use eddy_repr::strconv::{parse_datum, parse_numeric, JsonbValue};
use eddy_repr::{Datum, RelationDesc, ScalarType};

/// JSON as Postgres' `jsonb` reads it: numbers keep their `numeric` text.
type Value = JsonbValue;

use crate::spec::{KafkaSourceSpec, KeyFormat, MetadataColumn, ValueFormat};

/// One Kafka message as the decoders see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KafkaMessage<'a> {
    pub partition: i32,
    pub offset: i64,
    /// Create or log-append time, milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    pub key: Option<&'a [u8]>,
    /// `None` is a tombstone.
    pub value: Option<&'a [u8]>,
}

/// A decoded value: the declared columns' datums (metadata columns filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A row (JSON, DELIMITED, KAFKA).
    Row(Vec<Datum>),
    /// A Debezium change event.
    Change {
        before: Option<Vec<Datum>>,
        after: Option<Vec<Datum>>,
    },
    /// No value (a tombstone).
    Tombstone,
    /// A Debezium truncate event: the table is emptied.
    Truncate,
}

/// Decodes values and keys for one source.
#[derive(Clone, Debug)]
pub(crate) struct Format {
    desc: RelationDesc,
    value_format: ValueFormat,
    key_format: KeyFormat,
    /// Columns filled from the value, in declaration order.
    value_columns: Vec<usize>,
    /// Columns filled from the message's metadata.
    metadata_columns: Vec<(usize, MetadataColumn)>,
    primary_key: Vec<usize>,
}

impl Format {
    pub(crate) fn new(spec: &KafkaSourceSpec) -> Format {
        let metadata_columns = spec
            .desc
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| MetadataColumn::from_name(name).map(|m| (i, m)))
            .collect();
        Format {
            desc: spec.desc.clone(),
            value_format: spec.value_format,
            key_format: spec.key_format,
            value_columns: spec.value_columns(),
            metadata_columns,
            primary_key: spec.primary_key.clone(),
        }
    }

    /// Decodes the message's value into the declared columns.
    pub(crate) fn decode_value(&self, msg: &KafkaMessage<'_>) -> Result<Decoded, String> {
        let Some(value) = msg.value else {
            return Ok(Decoded::Tombstone);
        };
        let decoded = match self.value_format {
            ValueFormat::Json => {
                if let Some(datums) = self.row_from_json_fast(value) {
                    return self.with_metadata(Decoded::Row(datums), msg);
                }
                // The slow path reads the whole value as a tree; it gives the errors.
                let json = parse_json(value)?;
                match json {
                    Value::Object(object) => Decoded::Row(self.row_from_object(&object)?),
                    other => {
                        return Err(format!(
                            "expected a JSON object, found a JSON {}",
                            json_kind(&other)
                        ))
                    }
                }
            }
            ValueFormat::Delimited { delimiter } => {
                let text = utf8(value)?;
                Decoded::Row(self.row_from_csv(text, delimiter)?)
            }
            ValueFormat::Kafka => {
                let mut datums = vec![Datum::Null; self.desc.arity()];
                let column = self.value_columns[0];
                datums[column] = match self.desc.types[column].scalar_type {
                    ScalarType::Bytea => Datum::Bytes(value.to_vec()),
                    _ => Datum::String(utf8(value)?.to_string()),
                };
                Decoded::Row(datums)
            }
            ValueFormat::DebeziumJson => self.decode_debezium(value)?,
        };
        self.with_metadata(decoded, msg)
    }

    fn with_metadata(
        &self,
        mut decoded: Decoded,
        msg: &KafkaMessage<'_>,
    ) -> Result<Decoded, String> {
        match &mut decoded {
            Decoded::Row(datums) => self.fill_metadata(datums, msg)?,
            Decoded::Change { before, after } => {
                for datums in [before, after].into_iter().flatten() {
                    self.fill_metadata(datums, msg)?;
                }
            }
            Decoded::Tombstone | Decoded::Truncate => {}
        }
        Ok(decoded)
    }

    /// The primary key columns' datums from the message key, in primary key order.
    pub(crate) fn decode_key(&self, key: &[u8]) -> Result<Vec<Datum>, String> {
        match self.key_format {
            KeyFormat::Kafka => {
                let text = utf8(key).map_err(|e| format!("key: {e}"))?;
                let column = self.primary_key[0];
                let datum = parse_datum(text, &self.desc.types[column].scalar_type)
                    .map_err(|e| format!("key column \"{}\": {e}", self.desc.names[column]))?;
                Ok(vec![datum])
            }
            KeyFormat::Json => {
                let json = parse_json(key).map_err(|e| format!("key: {e}"))?;
                match json {
                    Value::Object(object) => {
                        let row = self.row_from_object(&object)?;
                        Ok(self.primary_key.iter().map(|&i| row[i].clone()).collect())
                    }
                    scalar if self.primary_key.len() == 1 => {
                        let column = self.primary_key[0];
                        let datum = json_to_datum(&scalar, &self.desc.types[column].scalar_type)
                            .map_err(|e| {
                                format!("key column \"{}\": {e}", self.desc.names[column])
                            })?;
                        Ok(vec![datum])
                    }
                    other => Err(format!(
                        "key: expected a JSON object with the primary key columns, found a JSON {}",
                        json_kind(&other)
                    )),
                }
            }
        }
    }

    /// The declared columns from a JSON object, read field by field without building the
    /// object; `None` when the value is not a valid object, a field does not convert, or
    /// two fields name the same column (ignoring ASCII case), so that the slow path
    /// ([`Format::row_from_object`]) gives the error or picks the field that wins (the
    /// one last in jsonb key order). Agrees with the slow path on every value that it
    /// reads. (It may give up where the slow path reads the value: a field that does
    /// not convert but is followed by a duplicate of its key, which jsonb drops.)
    fn row_from_json_fast(&self, value: &[u8]) -> Option<Vec<Datum>> {
        /// Columns whose fields are tracked on the stack; wider rows use the heap.
        const TRACKED_INLINE: usize = 64;
        let text = std::str::from_utf8(value).ok()?;
        let arity = self.desc.arity();
        let mut datums = vec![Datum::Null; arity];
        let (mut inline, mut wide) = ([false; TRACKED_INLINE], Vec::new());
        let seen: &mut [bool] = if arity <= TRACKED_INLINE {
            &mut inline[..arity]
        } else {
            wide.resize(arity, false);
            &mut wide
        };
        let mut failed = false;
        let object = JsonbValue::visit_object(text, |key, field| {
            let Some(&column) = self
                .value_columns
                .iter()
                .find(|&&i| self.desc.names[i].eq_ignore_ascii_case(&key))
            else {
                return;
            };
            if failed || std::mem::replace(&mut seen[column], true) {
                failed = true;
                return;
            }
            match field_to_datum(field, &self.desc.types[column].scalar_type) {
                Ok(datum) => datums[column] = datum,
                Err(_) => failed = true,
            }
        });
        (object == Ok(true) && !failed).then_some(datums)
    }

    /// The declared columns from a JSON object (metadata columns left NULL).
    fn row_from_object(&self, object: &[(String, Value)]) -> Result<Vec<Datum>, String> {
        self.row_from_fields(object, |_, value, typ| json_to_datum(value, typ))
    }

    /// The declared columns from a JSON object, each field that names one (ignoring
    /// ASCII case) converted by `convert(field, value, type)`.
    fn row_from_fields(
        &self,
        object: &[(String, Value)],
        convert: impl Fn(&str, &Value, &ScalarType) -> Result<Datum, String>,
    ) -> Result<Vec<Datum>, String> {
        let mut datums = vec![Datum::Null; self.desc.arity()];
        for (field, value) in object {
            let Some(&column) = self
                .value_columns
                .iter()
                .find(|&&i| self.desc.names[i].eq_ignore_ascii_case(field))
            else {
                continue;
            };
            datums[column] = convert(field, value, &self.desc.types[column].scalar_type)
                .map_err(|e| format!("column \"{}\": {e}", self.desc.names[column]))?;
        }
        Ok(datums)
    }

    /// The declared columns from a Debezium row image. A `numeric` column may come as
    /// Kafka Connect's `Decimal` (`decimal.handling.mode=precise`, Debezium's default):
    /// base64 of the unscaled value, its scale in the event's schema or, without one,
    /// the column's declared scale.
    fn row_from_debezium_image(
        &self,
        object: &[(String, Value)],
        scales: &DecimalScales,
    ) -> Result<Vec<Datum>, String> {
        self.row_from_fields(object, |field, value, typ| match (typ, value) {
            (ScalarType::Numeric { scale, .. }, Value::String(text)) => {
                match scales.scale_of(field) {
                    Some(schema_scale) => connect_decimal(text, schema_scale),
                    None => json_to_datum(value, typ).or_else(|e| match scale {
                        Some(declared) if parse_numeric(text).is_err() => {
                            connect_decimal(text, u32::from(*declared)).map_err(|_| e.clone())
                        }
                        _ => Err(format!(
                            "{e} (a base64 decimal needs its scale: declare the column \
                             numeric(p,s), send the event's schema, or set Debezium's \
                             decimal.handling.mode to string)"
                        )),
                    }),
                }
            }
            _ => json_to_datum(value, typ),
        })
    }

    fn row_from_csv(&self, text: &str, delimiter: u8) -> Result<Vec<Datum>, String> {
        let fields = split_csv_record(text, delimiter)?;
        if fields.len() != self.value_columns.len() {
            return Err(format!(
                "expected {} fields, found {}",
                self.value_columns.len(),
                fields.len()
            ));
        }
        let mut datums = vec![Datum::Null; self.desc.arity()];
        for (field, &column) in fields.into_iter().zip(&self.value_columns) {
            if let Some(field) = field {
                datums[column] = parse_datum(&field, &self.desc.types[column].scalar_type)
                    .map_err(|e| format!("column \"{}\": {e}", self.desc.names[column]))?;
            }
        }
        Ok(datums)
    }

    fn decode_debezium(&self, value: &[u8]) -> Result<Decoded, String> {
        let json = parse_json(value)?;
        let Value::Object(mut event) = json else {
            return Err(format!(
                "expected a Debezium change event (a JSON object), found a JSON {}",
                json_kind(&json)
            ));
        };
        // The JSON converter with schemas enabled wraps the event: {schema, payload}.
        let field =
            |event: &[(String, Value)], name: &str| event.iter().position(|(k, _)| k == name);
        let mut scales = DecimalScales::default();
        if field(&event, "op").is_none() {
            // Only a numeric column reads the schema's decimal scales.
            let numeric = self
                .value_columns
                .iter()
                .any(|&c| matches!(self.desc.types[c].scalar_type, ScalarType::Numeric { .. }));
            if let (true, Some(i)) = (numeric, field(&event, "schema")) {
                scales = DecimalScales::of_schema(&event[i].1);
            }
            if let Some(i) = field(&event, "payload") {
                match event.swap_remove(i).1 {
                    Value::Object(payload) => event = payload,
                    Value::Null => return Ok(Decoded::Tombstone),
                    other => {
                        return Err(format!(
                            "expected the Debezium payload to be a JSON object, found a JSON {}",
                            json_kind(&other)
                        ))
                    }
                }
            }
        }
        let get = |name: &str| field(&event, name).map(|i| &event[i].1);
        if matches!(get("op"), Some(Value::String(op)) if op == "t") {
            return Ok(Decoded::Truncate);
        }
        let op = match get("op") {
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(format!(
                    "expected the Debezium \"op\" to be a string, found a JSON {}",
                    json_kind(other)
                ))
            }
            None => return Err("a Debezium change event needs an \"op\" field".into()),
        };
        let image = |field: &str| -> Result<Option<Vec<Datum>>, String> {
            match get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(object)) => self
                    .row_from_debezium_image(object, &scales)
                    .map(Some)
                    .map_err(|e| format!("{field}: {e}")),
                Some(other) => Err(format!(
                    "expected Debezium \"{field}\" to be a JSON object, found a JSON {}",
                    json_kind(other)
                )),
            }
        };
        let before = image("before")?;
        let after = image("after")?;
        match op {
            "c" | "r" | "u" if after.is_none() => {
                Err(format!("Debezium op \"{op}\" without an \"after\" image"))
            }
            "c" | "r" => Ok(Decoded::Change {
                before: None,
                after,
            }),
            "u" => Ok(Decoded::Change { before, after }),
            "d" if before.is_none() => Err("Debezium op \"d\" without a \"before\" image".into()),
            "d" => Ok(Decoded::Change {
                before,
                after: None,
            }),
            other => Err(format!("unsupported Debezium op \"{other}\"")),
        }
    }

    fn fill_metadata(&self, datums: &mut [Datum], msg: &KafkaMessage<'_>) -> Result<(), String> {
        for &(column, meta) in &self.metadata_columns {
            let typ = self.desc.types[column].scalar_type;
            datums[column] = match meta {
                MetadataColumn::Partition => integer_datum(msg.partition as i64, &typ)?,
                MetadataColumn::Offset => integer_datum(msg.offset, &typ)?,
                MetadataColumn::Timestamp => match msg.timestamp_ms {
                    Some(ms) => epoch_ms_datum(ms, &typ)?,
                    None => Datum::Null,
                },
                MetadataColumn::Key => match msg.key {
                    None => Datum::Null,
                    Some(key) if typ == ScalarType::Bytea => Datum::Bytes(key.to_vec()),
                    Some(key) => {
                        Datum::String(utf8(key).map_err(|e| format!("key: {e}"))?.to_string())
                    }
                },
            };
        }
        Ok(())
    }
}

/// JSON text from bytes, with Postgres' message for bytes that are not UTF-8.
fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    let text = utf8(bytes)?;
    JsonbValue::parse(text).map_err(|e| match e.detail {
        Some(detail) => format!("{}: {detail}", e.message),
        None => e.message,
    })
}

/// `invalid byte sequence for encoding "UTF8": 0xff`, as Postgres says it.
fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        let start = e.valid_up_to();
        let end = (start + e.error_len().unwrap_or(1)).min(bytes.len());
        let shown: Vec<String> = bytes[start..end]
            .iter()
            .map(|b| format!("0x{b:02x}"))
            .collect();
        format!(
            "invalid byte sequence for encoding \"UTF8\": {}",
            shown.join(" ")
        )
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A JSON value as a datum of type `typ`, as Postgres casts it:
///
/// - null is NULL; any value into `jsonb` is that value;
/// - a string is read by the type's input function (`'42'`, ISO timestamps, ...);
/// - a number into an integer type is rounded to the nearest integer (ties away from
///   zero) and must fit; into `real`, `double precision` and `numeric` as written; into
///   a string type as its JSON text; into `timestamp`/`timestamptz` as milliseconds since
///   the epoch; into `date` as days since the epoch (Debezium's `io.debezium.time.Date`);
/// - a boolean into `boolean` or a string type (`true`/`false`);
/// - an array into an array type element by element; an array or object into a string
///   type as its JSON text;
/// - anything else is an error naming both types.
pub fn json_to_datum(value: &Value, typ: &ScalarType) -> Result<Datum, String> {
    if *typ == ScalarType::Jsonb {
        return Ok(match value {
            Value::Null => Datum::Null,
            other => Datum::Jsonb(other.to_string()),
        });
    }
    let mismatch = || {
        format!(
            "cannot cast JSON {} to type {}",
            json_kind(value),
            typ.sql_name()
        )
    };
    match value {
        Value::Null => Ok(Datum::Null),
        Value::String(s) => parse_datum(s, typ).map_err(|e| e.message),
        Value::Bool(b) if *typ == ScalarType::Bool => Ok(Datum::Bool(*b)),
        Value::Bool(b) if typ.is_string() => {
            parse_datum(if *b { "true" } else { "false" }, typ).map_err(|e| e.message)
        }
        Value::Number(n) => match typ {
            ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64 => {
                let int = match n.parse::<i64>() {
                    Ok(i) => i,
                    Err(_) => parse_numeric(n)
                        .map_err(|_| out_of_range(typ))?
                        .round_to_i128()
                        .and_then(|v| i64::try_from(v).ok())
                        .ok_or_else(|| out_of_range(typ))?,
                };
                integer_datum(int, typ)
            }
            ScalarType::Float32 | ScalarType::Float64 | ScalarType::Numeric { .. } => {
                parse_datum(n, typ).map_err(|e| e.message)
            }
            t if t.is_string() => parse_datum(n, typ).map_err(|e| e.message),
            ScalarType::Timestamp | ScalarType::TimestampTz => match n.parse::<i64>() {
                Ok(ms) => epoch_ms_datum(ms, typ),
                Err(_) => Err(format!(
                    "{n} is not a whole number of milliseconds since the epoch"
                )),
            },
            ScalarType::Date => {
                let days = n
                    .parse::<i64>()
                    .map_err(|_| format!("{n} is not a whole number of days since the epoch"))?;
                chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::try_days(days)?))
                    .map(Datum::Date)
                    .ok_or_else(|| "date out of range".to_string())
            }
            _ => Err(mismatch()),
        },
        Value::Array(elements) if typ.is_array() => {
            let element_type = typ.array_element().expect("an array type");
            elements
                .iter()
                .map(|e| json_to_datum(e, &element_type))
                .collect::<Result<Vec<_>, _>>()
                .map(Datum::Array)
        }
        Value::Array(_) | Value::Object(_) if typ.is_string() => {
            parse_datum(&value.to_string(), typ).map_err(|e| e.message)
        }
        // Debezium's `VariableScaleDecimal` (a Postgres `numeric` without a scale):
        // `{"scale": 2, "value": "<base64 of the unscaled value>"}`.
        Value::Object(fields) if matches!(typ, ScalarType::Numeric { .. }) => {
            let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            match (get("scale"), get("value")) {
                (Some(Value::Number(scale)), Some(Value::String(value))) => {
                    let scale = scale.parse::<u32>().map_err(|_| {
                        format!("a decimal's scale must be a whole number, not {scale}")
                    })?;
                    connect_decimal(value, scale)
                }
                _ => Err(mismatch()),
            }
        }
        _ => Err(mismatch()),
    }
}

/// Kafka Connect's `Decimal` (and Debezium's `VariableScaleDecimal` value): `base64`
/// of the unscaled value as a big-endian two's-complement integer, with `scale`.
fn connect_decimal(base64_text: &str, scale: u32) -> Result<Datum, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text)
        .map_err(|_| format!("invalid input syntax for type numeric: \"{base64_text}\" (neither a number nor a base64 decimal)"))?;
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(format!(
            "a base64 decimal of {} bytes does not fit numeric (at most 16 bytes: 38 digits)",
            bytes.len()
        ));
    }
    let negative = bytes[0] & 0x80 != 0;
    let mut be = [if negative { 0xFF } else { 0 }; 16];
    be[16 - bytes.len()..].copy_from_slice(&bytes);
    let unscaled = i128::from_be_bytes(be);
    eddy_repr::Numeric::from_parts(negative, unscaled.unsigned_abs(), scale)
        .map(Datum::Numeric)
        .map_err(|_| "value overflows numeric format".to_string())
}

/// The scales of the `Decimal` fields of a Debezium event's row images, from the
/// event's `schema` (the JSON converter with schemas enabled).
#[derive(Debug, Default)]
struct DecimalScales(Vec<(String, u32)>);

impl DecimalScales {
    /// Reads `schema.fields[after|before].fields[*]` whose `name` is Kafka Connect's
    /// `Decimal`, with `parameters.scale`.
    fn of_schema(schema: &Value) -> DecimalScales {
        fn get<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
            match v {
                Value::Object(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
                _ => None,
            }
        }
        fn text<'v>(v: &'v Value, name: &str) -> Option<&'v str> {
            match get(v, name) {
                Some(Value::String(s)) => Some(s),
                _ => None,
            }
        }
        fn list<'v>(v: &'v Value, name: &str) -> &'v [Value] {
            match get(v, name) {
                Some(Value::Array(items)) => items,
                _ => &[],
            }
        }
        let mut scales: Vec<(String, u32)> = vec![];
        let images = list(schema, "fields")
            .iter()
            .filter(|image| matches!(text(image, "field"), Some("after" | "before")));
        for column in images.flat_map(|image| list(image, "fields")) {
            if text(column, "name") != Some("org.apache.kafka.connect.data.Decimal") {
                continue;
            }
            let field = text(column, "field");
            let scale = get(column, "parameters")
                .and_then(|p| text(p, "scale"))
                .and_then(|s| s.parse().ok());
            if let (Some(field), Some(scale)) = (field, scale) {
                if !scales.iter().any(|(f, _)| f == field) {
                    scales.push((field.to_string(), scale));
                }
            }
        }
        DecimalScales(scales)
    }

    fn scale_of(&self, field: &str) -> Option<u32> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, s)| *s)
    }
}

/// A field of [`JsonbValue::visit_object`] as a datum of type `typ`, as [`json_to_datum`]
/// converts the field's value.
fn field_to_datum(field: JsonField<'_>, typ: &ScalarType) -> Result<Datum, String> {
    let plain_integer = |n: &str| {
        let digits = n.strip_prefix('-').unwrap_or(n);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    match field {
        JsonField::Null => Ok(Datum::Null),
        JsonField::String(s) if *typ != ScalarType::Jsonb => {
            parse_datum(&s, typ).map_err(|e| e.message)
        }
        JsonField::Number(n)
            if matches!(
                typ,
                ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64
            ) && plain_integer(n) =>
        {
            let int = n.parse::<i64>().map_err(|_| out_of_range(typ))?;
            integer_datum(int, typ)
        }
        field => {
            let value = match field {
                JsonField::Null => Value::Null,
                JsonField::Bool(b) => Value::Bool(b),
                JsonField::Number(n) => Value::Number(canonical_number(n).map_err(|e| e.message)?),
                JsonField::String(s) => Value::String(s.into_owned()),
                JsonField::Nested(v) => v,
            };
            json_to_datum(&value, typ)
        }
    }
}

fn out_of_range(typ: &ScalarType) -> String {
    format!("{} out of range", typ.sql_name())
}

/// An integer as a datum of an integer or numeric type, range-checked.
fn integer_datum(value: i64, typ: &ScalarType) -> Result<Datum, String> {
    match typ {
        ScalarType::Int16 => i16::try_from(value)
            .map(Datum::Int16)
            .map_err(|_| out_of_range(typ)),
        ScalarType::Int32 => i32::try_from(value)
            .map(Datum::Int32)
            .map_err(|_| out_of_range(typ)),
        ScalarType::Int64 => Ok(Datum::Int64(value)),
        ScalarType::Numeric { .. } => Ok(Datum::Numeric(eddy_repr::Numeric::from(value))),
        other => Err(format!(
            "cannot store an integer in type {}",
            other.sql_name()
        )),
    }
}

/// Milliseconds since the epoch as a `timestamp` (UTC wall clock) or `timestamptz`.
fn epoch_ms_datum(ms: i64, typ: &ScalarType) -> Result<Datum, String> {
    let ts = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("{ms} milliseconds since the epoch is out of range"))?;
    match typ {
        ScalarType::Timestamp => Ok(Datum::Timestamp(ts.naive_utc())),
        ScalarType::TimestampTz => Ok(Datum::TimestampTz(ts)),
        other => Err(format!(
            "cannot store a timestamp in type {}",
            other.sql_name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use eddy_repr::OrdF64;

    use super::*;

    fn cast(json: &str, typ: &ScalarType) -> Result<Datum, String> {
        json_to_datum(&JsonbValue::parse(json).unwrap(), typ)
    }

    /// Debezium's decimals in `decimal.handling.mode=precise` (its default): base64 of
    /// the unscaled value with the scale from the event's schema, or without a schema
    /// the column's declared scale; `VariableScaleDecimal` objects; plain numbers and
    /// numeric strings as before.
    #[test]
    fn debezium_precise_decimals() {
        let numeric = |scale: Option<u8>| ScalarType::Numeric {
            precision: scale.map(|_| 38),
            scale,
        };
        let desc = RelationDesc::empty()
            .with_column("id", ScalarType::Int64.nullable(false))
            .with_column("amount", numeric(Some(2)).nullable(true))
            .with_column("free", numeric(None).nullable(true));
        let spec = KafkaSourceSpec::from_options(
            crate::SourceKind::Table,
            desc,
            vec![0],
            &[
                ("KAFKA_TOPIC".into(), "t".into()),
                ("VALUE_FORMAT".into(), "DEBEZIUM_JSON".into()),
            ],
            Some("localhost:9092"),
        )
        .unwrap();
        let format = Format::new(&spec);
        let after = |value: &str| match format.decode_debezium(value.as_bytes()) {
            Ok(Decoded::Change {
                after: Some(row), ..
            }) => Ok(row),
            Ok(other) => panic!("not a change: {other:?}"),
            Err(e) => Err(e),
        };
        let n = |s: &str| Datum::Numeric(s.parse().unwrap());
        // Without a schema: the declared scale (2) reads the base64 value; a number or a
        // numeric string reads as itself.
        assert_eq!(
            after(r#"{"op":"c","after":{"id":1,"amount":"BOI=","free":"12.5"}}"#),
            Ok(vec![Datum::Int64(1), n("12.50"), n("12.5")])
        );
        assert_eq!(
            after(r#"{"op":"c","after":{"id":2,"amount":"+x4=","free":7}}"#),
            Ok(vec![Datum::Int64(2), n("-12.50"), n("7")])
        );
        // 38 digits, and a variable-scale decimal.
        assert_eq!(
            after(
                r#"{"op":"c","after":{"id":3,"amount":"CUmw9vACMxPESZBQ3jjzTg==","free":{"scale":3,"value":"BOI="}}}"#
            ),
            Ok(vec![
                Datum::Int64(3),
                n("123456789012345678901234567890123456.78"),
                n("1.250")
            ])
        );
        // With the schema wrapper, the schema's scale wins, also for an unconstrained
        // column.
        let wrapped = r#"{"schema":{"type":"struct","fields":[
            {"type":"struct","field":"before","fields":[]},
            {"type":"struct","field":"after","fields":[
              {"type":"int64","field":"id"},
              {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"amount","parameters":{"scale":"2"}},
              {"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","field":"free","parameters":{"scale":"4","connect.decimal.precision":"10"}}]}]},
          "payload":{"op":"u","before":null,"after":{"id":4,"amount":"BOI=","free":"BOI="}}}"#;
        assert_eq!(
            after(wrapped),
            Ok(vec![Datum::Int64(4), n("12.50"), n("0.1250")])
        );
        // Base64 into an unconstrained column without a schema cannot be read: the
        // error says what would make it readable.
        let err = after(r#"{"op":"c","after":{"id":5,"free":"BOI="}}"#).unwrap_err();
        assert!(
            err.contains("column \"free\"") && err.contains("decimal.handling.mode"),
            "{err}"
        );
        // Bytes that are not base64, or too many of them, are errors too.
        assert!(after(r#"{"op":"c","after":{"id":6,"amount":"not base64!"}}"#).is_err());
        assert!(
            after(r#"{"op":"c","after":{"id":7,"amount":"AAAAAAAAAAAAAAAAAAAAAAAA"}}"#).is_err()
        );
    }

    /// The fast JSON path reads every value the slow path reads, to the same datums, and
    /// nothing the slow path rejects: over values of every kind and their one-character
    /// mutations, into columns of many types.
    #[test]
    fn fast_json_path_agrees_with_the_tree() {
        let types = [
            ScalarType::Int16,
            ScalarType::Int32,
            ScalarType::Int64,
            ScalarType::Float64,
            ScalarType::Numeric {
                precision: None,
                scale: None,
            },
            ScalarType::Text,
            ScalarType::Bool,
            ScalarType::Jsonb,
            ScalarType::Timestamp,
            ScalarType::Date,
            ScalarType::TextArray,
        ];
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
        let mut desc = RelationDesc::empty();
        for (name, typ) in names.iter().zip(&types) {
            desc = desc.with_column(*name, typ.nullable(true));
        }
        let spec = KafkaSourceSpec::from_options(
            crate::SourceKind::Stream,
            desc,
            vec![],
            &[
                ("KAFKA_TOPIC".into(), "t".into()),
                ("VALUE_FORMAT".into(), "JSON".into()),
            ],
            Some("localhost:9092"),
        )
        .unwrap();
        let format = Format::new(&spec);
        let bases = [
            r#"{"a": 7, "b": -0, "c": 9007199254740993, "d": 1.5e3, "e": 12.50, "f": "x\"y", "g": true}"#,
            r#"{"h": {"z": [1, 2.0]}, "i": 1700000000000, "j": "2026-01-02", "k": ["p", null]}"#,
            r#"{"A": 1, "a": 2, "F": 3, "f": "lower", "x": {"ignored": 1e999999}}"#,
            r#"{"a": "12", "b": 2.5, "c": 1e2, "d": "NaN", "e": "-0.0", "f": 4.10, "g": "t"}"#,
            r#"{"a": 70000, "b": [1], "f": ["s"], "h": null, "i": "2026-01-02 03:04:05"}"#,
        ];
        let alphabet = [
            '0', '9', '-', '.', 'e', '"', '\\', '{', '}', ',', ':', 'A', ' ',
        ];
        let mut inputs: Vec<String> = bases.iter().map(|s| s.to_string()).collect();
        for base in bases {
            let chars: Vec<char> = base.chars().collect();
            for i in 0..chars.len() {
                for c in alphabet {
                    let mut replaced = chars.clone();
                    replaced[i] = c;
                    inputs.push(replaced.into_iter().collect());
                }
                let mut removed = chars.clone();
                removed.remove(i);
                inputs.push(removed.into_iter().collect());
            }
        }
        let mut read = 0;
        for input in &inputs {
            let slow = parse_json(input.as_bytes()).and_then(|json| match json {
                Value::Object(object) => format.row_from_object(&object),
                _ => Err("not an object".into()),
            });
            let fast = format.row_from_json_fast(input.as_bytes());
            match (&slow, &fast) {
                (Ok(slow), Some(fast)) => {
                    assert_eq!(slow, fast, "{input}");
                    read += 1;
                }
                (Err(_), None) => {}
                // Only a duplicate key hides a bad field from the slow path.
                (Ok(_), None) => {
                    let mut keys = Vec::new();
                    let _ = JsonbValue::visit_object(input, |k, _| keys.push(k.to_lowercase()));
                    keys.sort();
                    let before = keys.len();
                    keys.dedup();
                    assert!(keys.len() < before, "{input}: only the slow path reads it");
                }
                (Err(e), Some(_)) => panic!("{input}: the fast path reads what fails with {e}"),
            }
        }
        assert!(read > 200, "only {read} inputs were read");
    }

    #[test]
    fn json_casts_follow_postgres() {
        let int = ScalarType::Int32;
        assert_eq!(cast(r#"7"#, &int), Ok(Datum::Int32(7)));
        assert_eq!(cast(r#""7""#, &int), Ok(Datum::Int32(7)));
        assert_eq!(cast(r#"2.5"#, &int), Ok(Datum::Int32(3)));
        assert_eq!(
            cast(r#"3000000000"#, &int),
            Err("integer out of range".into())
        );
        assert_eq!(
            cast(r#""x""#, &int),
            Err("invalid input syntax for type integer: \"x\"".into())
        );
        assert_eq!(
            cast(r#"true"#, &int),
            Err("cannot cast JSON boolean to type integer".into())
        );
        assert_eq!(
            cast(r#"1.25"#, &ScalarType::Text),
            Ok(Datum::String("1.25".into()))
        );
        assert_eq!(
            cast(r#"{"b": 1}"#, &ScalarType::Text),
            Ok(Datum::String("{\"b\": 1}".into()))
        );
        let numeric = ScalarType::Numeric {
            precision: None,
            scale: None,
        };
        assert_eq!(
            cast(r#"12.50"#, &numeric),
            Ok(Datum::Numeric("12.50".parse().unwrap()))
        );
        // Kafka and CDC decimals of 38 digits arrive whole, never rounded.
        let wide = cast(r#"-1234567890123456789012345678.9012345678"#, &numeric).unwrap();
        assert_eq!(
            eddy_repr::strconv::format_datum(&wide, &numeric),
            "-1234567890123456789012345678.9012345678"
        );
        assert_eq!(
            cast(r#"123456789012345678901234567890123456789012"#, &numeric),
            Err("value overflows numeric format".into())
        );
        assert_eq!(
            cast(r#"0.1"#, &ScalarType::Float64),
            Ok(Datum::Float64(OrdF64(0.1)))
        );
        let ts = ScalarType::Timestamp;
        let expected = chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
            .unwrap()
            .and_hms_milli_opt(3, 4, 5, 678)
            .unwrap();
        assert_eq!(
            cast(r#"1704164645678"#, &ts),
            Ok(Datum::Timestamp(expected))
        );
        assert_eq!(
            cast(r#""2024-01-02T03:04:05.678Z""#, &ts),
            Ok(Datum::Timestamp(expected))
        );
        assert_eq!(
            cast(r#""2024-01-02 03:04:05.678""#, &ts),
            Ok(Datum::Timestamp(expected))
        );
        assert_eq!(
            cast(r#"19724"#, &ScalarType::Date),
            Ok(Datum::Date(
                chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()
            ))
        );
        assert_eq!(
            cast(r#"{"b": [1, null]}"#, &ScalarType::Jsonb),
            Ok(Datum::Jsonb("{\"b\": [1, null]}".into()))
        );
        assert_eq!(
            cast(r#"[1, null]"#, &ScalarType::Int64Array),
            Ok(Datum::Array(vec![Datum::Int64(1), Datum::Null]))
        );
    }

    #[test]
    fn utf8_errors_read_like_postgres() {
        assert_eq!(
            utf8(b"ab\xff").unwrap_err(),
            "invalid byte sequence for encoding \"UTF8\": 0xff"
        );
    }
}
