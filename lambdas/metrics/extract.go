package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Datum is one metric CloudWatch extracts from a log line: a metric of one
// directive under one of its dimension sets.
type Datum struct {
	Namespace  string
	Name       string
	Unit       Unit
	Dimensions map[string]string // empty for the empty dimension set
	Values     []float64
	Timestamp  time.Time
}

// units are the values the EMF specification allows for Unit.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// Extract reads one log event as CloudWatch Logs reads the embedded metric
// format, checking it against the specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// the event is one JSON object with nothing before or after it and no
// member twice; "_aws" holds an integer Timestamp and CloudWatchMetrics;
// each directive a Namespace, Dimensions (at least one set, each of at most
// 30 keys) and at most 100 Metrics, each with a Name and an allowed Unit;
// every referenced member is a top-level member, a string (at most 1024
// characters) for a dimension, a number or an array of at most 100 numbers
// for a metric. It returns every datum the event yields, nil for an event
// without "_aws", and an error naming the first rule broken: CloudWatch
// would extract nothing from such an event.
func Extract(event []byte) ([]Datum, error) {
	root, err := topLevel(event)
	if err != nil {
		return nil, err
	}
	raw, ok := root["_aws"]
	if !ok {
		return nil, nil
	}
	var meta struct {
		Timestamp         *json.Number
		CloudWatchMetrics *[]struct {
			Namespace  *string
			Dimensions *[][]string
			Metrics    *[]struct {
				Name *string
				Unit *string
			}
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&meta); err != nil {
		return nil, fmt.Errorf("emf: _aws: %w", err)
	}
	if meta.Timestamp == nil || meta.CloudWatchMetrics == nil {
		return nil, errors.New("emf: _aws needs Timestamp and CloudWatchMetrics")
	}
	ms, err := meta.Timestamp.Int64()
	if err != nil {
		return nil, fmt.Errorf("emf: _aws.Timestamp %s: want an integer of milliseconds", meta.Timestamp)
	}
	at := time.UnixMilli(ms).UTC()
	var out []Datum
	for i, dir := range *meta.CloudWatchMetrics {
		if dir.Namespace == nil || *dir.Namespace == "" || len(*dir.Namespace) > 1024 {
			return nil, fmt.Errorf("emf: directive %d: want a Namespace of 1-1024 characters", i)
		}
		if dir.Dimensions == nil || len(*dir.Dimensions) == 0 || dir.Metrics == nil {
			return nil, fmt.Errorf("emf: directive %d: want Dimensions (at least one set) and Metrics", i)
		}
		if len(*dir.Metrics) > MaxMetrics {
			return nil, fmt.Errorf("emf: directive %d: %d metrics, want at most %d", i, len(*dir.Metrics), MaxMetrics)
		}
		var sets []map[string]string
		for _, set := range *dir.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("emf: directive %d: a dimension set of %d keys, want at most 30", i, len(set))
			}
			dims := map[string]string{}
			for _, k := range set {
				var v string
				if err := json.Unmarshal(root[k], &v); err != nil || root[k] == nil {
					return nil, fmt.Errorf("emf: directive %d: dimension %q: want a top-level string member", i, k)
				}
				if v == "" || len([]rune(v)) > 1024 {
					return nil, fmt.Errorf("emf: directive %d: dimension %q = %q: want 1-1024 characters", i, k, v)
				}
				dims[k] = v
			}
			sets = append(sets, dims)
		}
		for _, m := range *dir.Metrics {
			if m.Name == nil || *m.Name == "" {
				return nil, fmt.Errorf("emf: directive %d: a metric without a Name", i)
			}
			unit := "None"
			if m.Unit != nil {
				unit = *m.Unit
			}
			if !slices.Contains(units, unit) {
				return nil, fmt.Errorf("emf: metric %q: Unit %q is not a CloudWatch unit", *m.Name, unit)
			}
			vals, err := numbers(root[*m.Name])
			if err != nil {
				return nil, fmt.Errorf("emf: metric %q: %w", *m.Name, err)
			}
			for _, dims := range sets {
				out = append(out, Datum{Namespace: *dir.Namespace, Name: *m.Name, Unit: Unit(unit),
					Dimensions: maps.Clone(dims), Values: vals, Timestamp: at})
			}
		}
	}
	return out, nil
}

// numbers reads a metric member: a number, or an array of at most MaxValues
// numbers.
func numbers(raw json.RawMessage) ([]float64, error) {
	if raw == nil {
		return nil, errors.New("want a top-level member")
	}
	var one float64
	if err := json.Unmarshal(raw, &one); err == nil {
		return []float64{one}, nil
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("value %s: want a number or an array of numbers", raw)
	}
	if len(many) > MaxValues {
		return nil, fmt.Errorf("%d values, want at most %d", len(many), MaxValues)
	}
	return many, nil
}

// topLevel splits a JSON object into its members, refusing anything but one
// object, and a member given twice (which value would count is undefined).
func topLevel(event []byte) (map[string]json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(event))
	tok, err := d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("emf: the event is not a JSON object")
	}
	root := map[string]json.RawMessage{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("emf: %w", err)
		}
		k := tok.(string) // object keys are strings
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("emf: member %q: %w", k, err)
		}
		if _, dup := root[k]; dup {
			return nil, fmt.Errorf("emf: member %q appears twice", k)
		}
		root[k] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, fmt.Errorf("emf: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("emf: data after the JSON object")
	}
	return root, nil
}
