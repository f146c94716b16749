//! The columns of the two datasets, `decisions` and `flags`, built row by row.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    MapFieldNames, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::read::{DecisionEntry, DecisionIn, FlagIn, as_i32, as_i64, millis};
use crate::cli::CliError;

/// The tier domains, one `tier_<domain>` column each in `decisions`.
const DOMAINS: [&str; 4] = ["attendance", "academic", "behavioral", "social_emotional"];

/// Column builders for one dataset.
pub(super) trait Rows {
    fn schema(&self) -> SchemaRef;
    fn len(&self) -> usize;
    /// The rows so far as a batch; the builders start empty again.
    fn batch(&mut self) -> Result<RecordBatch, CliError>;
}

/// Map fields named as the Parquet format's MAP type has them.
fn map_names() -> MapFieldNames {
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

fn utc_ms() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

fn string_list() -> ListBuilder<StringBuilder> {
    ListBuilder::new(StringBuilder::new())
}

/// `decisions` columns.
pub(super) struct DecisionRows {
    schema: SchemaRef,
    seq: Int64Builder,
    entry_at: TimestampMillisecondBuilder,
    hash: StringBuilder,
    purged_by: Int64Builder,
    actor: StringBuilder,
    decision_id: StringBuilder,
    student_id: StringBuilder,
    school_id: StringBuilder,
    grade_level: Int64Builder,
    evaluated_at: TimestampMillisecondBuilder,
    ruleset_version: StringBuilder,
    highest_tier: Int32Builder,
    tiers: [Int32Builder; DOMAINS.len()],
    rule_ids: ListBuilder<StringBuilder>,
    strengths: ListBuilder<StringBuilder>,
    source_kind: StringBuilder,
    source_event_id: StringBuilder,
    source_event_type: StringBuilder,
    source_line: Int64Builder,
    record_sha256: StringBuilder,
}

impl DecisionRows {
    pub(super) fn new() -> DecisionRows {
        let ts = utc_ms().finish().data_type().clone();
        let list = string_list().finish().data_type().clone();
        let mut fields = vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("entry_at", ts.clone(), false),
            Field::new("hash", DataType::Utf8, false),
            Field::new("purged_by", DataType::Int64, true),
            Field::new("actor", DataType::Utf8, false),
            Field::new("decision_id", DataType::Utf8, true),
            Field::new("student_id", DataType::Utf8, true),
            Field::new("school_id", DataType::Utf8, true),
            Field::new("grade_level", DataType::Int64, true),
            Field::new("evaluated_at", ts, true),
            Field::new("ruleset_version", DataType::Utf8, true),
            Field::new("highest_tier", DataType::Int32, true),
        ];
        for d in DOMAINS {
            fields.push(Field::new(format!("tier_{d}"), DataType::Int32, true));
        }
        fields.extend([
            Field::new("rule_ids", list.clone(), true),
            Field::new("strengths", list, true),
            Field::new("source_kind", DataType::Utf8, true),
            Field::new("source_event_id", DataType::Utf8, true),
            Field::new("source_event_type", DataType::Utf8, true),
            Field::new("source_line", DataType::Int64, true),
            Field::new("record_sha256", DataType::Utf8, true),
        ]);
        DecisionRows {
            schema: Arc::new(Schema::new(fields)),
            seq: Int64Builder::new(),
            entry_at: utc_ms(),
            hash: StringBuilder::new(),
            purged_by: Int64Builder::new(),
            actor: StringBuilder::new(),
            decision_id: StringBuilder::new(),
            student_id: StringBuilder::new(),
            school_id: StringBuilder::new(),
            grade_level: Int64Builder::new(),
            evaluated_at: utc_ms(),
            ruleset_version: StringBuilder::new(),
            highest_tier: Int32Builder::new(),
            tiers: std::array::from_fn(|_| Int32Builder::new()),
            rule_ids: string_list(),
            strengths: string_list(),
            source_kind: StringBuilder::new(),
            source_event_id: StringBuilder::new(),
            source_event_type: StringBuilder::new(),
            source_line: Int64Builder::new(),
            record_sha256: StringBuilder::new(),
        }
    }

    pub(super) fn push(&mut self, e: &DecisionEntry) {
        self.seq.append_value(as_i64(e.seq));
        self.entry_at.append_value(e.at_ms);
        self.hash.append_value(&e.hash);
        self.purged_by.append_option(e.purged_by.map(as_i64));
        self.actor.append_value(&e.actor);
        let Some(p) = &e.decision else {
            self.decision_id.append_null();
            self.student_id.append_null();
            self.school_id.append_null();
            self.grade_level.append_null();
            self.evaluated_at.append_null();
            self.ruleset_version.append_null();
            self.highest_tier.append_null();
            for t in &mut self.tiers {
                t.append_null();
            }
            self.rule_ids.append_null();
            self.strengths.append_null();
            self.source_kind.append_null();
            self.source_event_id.append_null();
            self.source_event_type.append_null();
            self.source_line.append_null();
            self.record_sha256.append_null();
            return;
        };
        let d = &p.decision;
        self.decision_id.append_value(&p.decision_id);
        self.student_id.append_value(&p.student_id);
        self.school_id.append_option(p.school_id.as_deref());
        self.grade_level.append_option(p.grade_level);
        self.evaluated_at.append_option(millis(&d.evaluated_at));
        self.ruleset_version.append_value(&p.ruleset_version);
        self.highest_tier
            .append_value(as_i32(d.tiers.values().copied().max().unwrap_or(0)));
        for (b, domain) in self.tiers.iter_mut().zip(DOMAINS) {
            b.append_option(d.tiers.get(domain).copied().map(as_i32));
        }
        for f in &d.flags {
            self.rule_ids.values().append_value(&f.rule_id);
        }
        self.rule_ids.append(true);
        for s in &d.strengths {
            self.strengths.values().append_value(&s.rule_id);
        }
        self.strengths.append(true);
        self.source_kind.append_value(&p.source.kind);
        self.source_event_id
            .append_option(p.source.event_id.as_deref());
        self.source_event_type
            .append_option(p.source.event_type.as_deref());
        self.source_line.append_option(p.source.line);
        self.record_sha256.append_value(&p.record_sha256);
    }
}

impl Rows for DecisionRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn len(&self) -> usize {
        self.seq.len()
    }

    fn batch(&mut self) -> Result<RecordBatch, CliError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.entry_at.finish()),
            Arc::new(self.hash.finish()),
            Arc::new(self.purged_by.finish()),
            Arc::new(self.actor.finish()),
            Arc::new(self.decision_id.finish()),
            Arc::new(self.student_id.finish()),
            Arc::new(self.school_id.finish()),
            Arc::new(self.grade_level.finish()),
            Arc::new(self.evaluated_at.finish()),
            Arc::new(self.ruleset_version.finish()),
            Arc::new(self.highest_tier.finish()),
        ];
        for t in &mut self.tiers {
            columns.push(Arc::new(t.finish()));
        }
        columns.extend([
            Arc::new(self.rule_ids.finish()) as ArrayRef,
            Arc::new(self.strengths.finish()),
            Arc::new(self.source_kind.finish()),
            Arc::new(self.source_event_id.finish()),
            Arc::new(self.source_event_type.finish()),
            Arc::new(self.source_line.finish()),
            Arc::new(self.record_sha256.finish()),
        ]);
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// `flags` columns.
pub(super) struct FlagRows {
    schema: SchemaRef,
    seq: Int64Builder,
    decision_id: StringBuilder,
    student_id: StringBuilder,
    school_id: StringBuilder,
    grade_level: Int64Builder,
    evaluated_at: TimestampMillisecondBuilder,
    rule_id: StringBuilder,
    domain: StringBuilder,
    tier: Int32Builder,
    inputs: MapBuilder<StringBuilder, Float64Builder>,
    inputs_text: MapBuilder<StringBuilder, StringBuilder>,
}

fn number_map() -> MapBuilder<StringBuilder, Float64Builder> {
    MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        Float64Builder::new(),
    )
}

fn text_map() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(
        Some(map_names()),
        StringBuilder::new(),
        StringBuilder::new(),
    )
}

impl FlagRows {
    pub(super) fn new() -> FlagRows {
        let ts = utc_ms().finish().data_type().clone();
        let fields = vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("decision_id", DataType::Utf8, false),
            Field::new("student_id", DataType::Utf8, false),
            Field::new("school_id", DataType::Utf8, true),
            Field::new("grade_level", DataType::Int64, true),
            Field::new("evaluated_at", ts, true),
            Field::new("rule_id", DataType::Utf8, false),
            Field::new("domain", DataType::Utf8, false),
            Field::new("tier", DataType::Int32, false),
            Field::new("inputs", number_map().finish().data_type().clone(), false),
            Field::new("inputs_text", text_map().finish().data_type().clone(), true),
        ];
        FlagRows {
            schema: Arc::new(Schema::new(fields)),
            seq: Int64Builder::new(),
            decision_id: StringBuilder::new(),
            student_id: StringBuilder::new(),
            school_id: StringBuilder::new(),
            grade_level: Int64Builder::new(),
            evaluated_at: utc_ms(),
            rule_id: StringBuilder::new(),
            domain: StringBuilder::new(),
            tier: Int32Builder::new(),
            inputs: number_map(),
            inputs_text: text_map(),
        }
    }

    pub(super) fn push(&mut self, e: &DecisionEntry, p: &DecisionIn, f: &FlagIn) {
        self.seq.append_value(as_i64(e.seq));
        self.decision_id.append_value(&p.decision_id);
        self.student_id.append_value(&p.student_id);
        self.school_id.append_option(p.school_id.as_deref());
        self.grade_level.append_option(p.grade_level);
        self.evaluated_at
            .append_option(millis(&p.decision.evaluated_at));
        self.rule_id.append_value(&f.rule_id);
        self.domain.append_value(&f.domain);
        self.tier.append_value(as_i32(f.tier));
        let mut texts = 0;
        for (k, v) in &f.inputs {
            if let Some(n) = v.as_f64() {
                self.inputs.keys().append_value(k);
                self.inputs.values().append_value(n);
            } else {
                self.inputs_text.keys().append_value(k);
                self.inputs_text.values().append_value(v.to_string());
                texts += 1;
            }
        }
        // Appending a map entry cannot fail here: keys and values are kept in step.
        let _ = self.inputs.append(true);
        let _ = self.inputs_text.append(texts > 0);
    }
}

impl Rows for FlagRows {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn len(&self) -> usize {
        self.seq.len()
    }

    fn batch(&mut self) -> Result<RecordBatch, CliError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            Arc::new(self.decision_id.finish()),
            Arc::new(self.student_id.finish()),
            Arc::new(self.school_id.finish()),
            Arc::new(self.grade_level.finish()),
            Arc::new(self.evaluated_at.finish()),
            Arc::new(self.rule_id.finish()),
            Arc::new(self.domain.finish()),
            Arc::new(self.tier.finish()),
            Arc::new(self.inputs.finish()),
            Arc::new(self.inputs_text.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
