#!/usr/bin/env python3
"""Writes the Grafana dashboards of bouncestream (ops/grafana/dashboards/*.json).

The JSON files are committed; this script is their source. Edit here, then run
    python3 ops/grafana/generate_dashboards.py
ops/check.sh runs it with --check and fails when the committed files differ from its output.

Conventions (ops/README.md): stable uid, "id": null, a datasource variable DS_PROMETHEUS used by
every panel and target, job / instance / tenant / vendor variables, schemaVersion 42.
Metric names and labels: metrics/METRICS.md.
"""
import json
import pathlib
import sys

SCHEMA_VERSION = 42  # the Dashboard default of @grafana/schema 13.2.3
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
OUT = pathlib.Path(__file__).resolve().parent / "dashboards"

# Selectors shared by every query. tenant/vendor exist only on bouncestream_events_classified_total.
SEL = 'job=~"$job", instance=~"$instance"'
SEL_TV = SEL + ', tenant=~"$tenant", vendor=~"$vendor"'
BLOCKING = 'party=~"filter_platform|recipient_admin|end_user"'
RI = "$__rate_interval"


def variables():
    def query_var(name, label, query, description):
        return {
            "name": name,
            "label": label,
            "description": description,
            "type": "query",
            "datasource": DS,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,  # on time range change
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [],
            "hide": 0,
            "regex": "",
            "skipUrlSync": False,
        }

    return [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus data source that scrapes bouncestream",
            "type": "datasource",
            "query": "prometheus",
            "options": [],
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "includeAll": False,
            "multi": False,
            "skipUrlSync": False,
        },
        query_var("job", "Job", "label_values(bouncestream_build_info, job)",
                  "Scrape job(s) of the bouncestream deployment"),
        query_var("instance", "Instance", 'label_values(bouncestream_build_info{job=~"$job"}, instance)',
                  "bouncestream instances (consumer group members)"),
        query_var("tenant", "Tenant",
                  'label_values(bouncestream_events_classified_total{job=~"$job"}, tenant)',
                  "Tenants on the metrics allow-list ([metrics] tenant_allow_list); the others are 'other'. "
                  "Applies to the classified-event panels only."),
        query_var("vendor", "Filter vendor",
                  'label_values(bouncestream_events_classified_total{job=~"$job"}, vendor)',
                  "Filter vendor recognised by the classifier. Applies to the classified-event panels only."),
    ]


class Board:
    """Lays panels out on Grafana's 24-column grid, left to right, top to bottom."""

    def __init__(self):
        self.panels = []
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_h = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"type": "row", "id": self._id(), "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def panel(self, kind, title, description, targets, w=12, h=8, unit=None, options=None,
              custom=None, decimals=None, thresholds=None, overrides=None, min_value=None):
        defaults = {}
        if unit:
            defaults["unit"] = unit
        if decimals is not None:
            defaults["decimals"] = decimals
        if min_value is not None:
            defaults["min"] = min_value
        if custom:
            defaults["custom"] = custom
        defaults["thresholds"] = thresholds or {
            "mode": "absolute", "steps": [{"color": "green", "value": None}]}
        if kind in ("stat", "bargauge", "piechart", "table"):
            defaults["color"] = {"mode": "thresholds" if kind == "stat" else "palette-classic"}
        else:
            defaults["color"] = {"mode": "palette-classic"}
        refs = "ABCDEFGHIJ"
        tgts = []
        for i, t in enumerate(targets):
            tgt = {"datasource": DS, "refId": refs[i], "expr": t[0], "legendFormat": t[1],
                   "range": not t[2] if len(t) > 2 else True,
                   "instant": t[2] if len(t) > 2 else False,
                   "editorMode": "code"}
            if kind == "table":
                tgt["format"] = "table"
            tgts.append(tgt)
        p = {
            "type": kind,
            "id": self._id(),
            "title": title,
            "description": description,
            "datasource": DS,
            "gridPos": self._place(w, h),
            "targets": tgts,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {},
        }
        self.panels.append(p)
        return p


def ts(b, title, description, targets, unit="short", w=12, h=8, stack=False, bars=False,
       min_value=0, overrides=None):
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
              "fillOpacity": 60 if bars else 10, "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack or bars else "none", "group": "A"},
              "axisPlacement": "auto", "axisSoftMin": 0}
    return b.panel("timeseries", title, description, targets, w=w, h=h, unit=unit, custom=custom,
                   min_value=min_value, overrides=overrides,
                   options={"legend": {"displayMode": "table", "placement": "right",
                                       "showLegend": True, "calcs": ["mean", "max", "lastNotNull"]},
                            "tooltip": {"mode": "multi", "sort": "desc"}})


def stat(b, title, description, expr, unit="short", w=6, h=4, thresholds=None, decimals=None,
         legend=""):
    return b.panel("stat", title, description, [(expr, legend, True)], w=w, h=h, unit=unit,
                   thresholds=thresholds, decimals=decimals,
                   options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                            "orientation": "auto", "textMode": "auto", "wideLayout": True,
                            "showPercentChange": False, "percentChangeColorMode": "standard"})


def bargauge(b, title, description, expr, legend, unit="short", w=12, h=8):
    return b.panel("bargauge", title, description, [(expr, legend, True)], w=w, h=h, unit=unit,
                   options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "orientation": "horizontal", "displayMode": "gradient",
                            "showUnfilled": True, "valueMode": "color", "namePlacement": "auto",
                            "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
                            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False,
                                       "calcs": []}})


def pie(b, title, description, expr, legend, w=8, h=8):
    return b.panel("piechart", title, description, [(expr, legend, True)], w=w, h=h, unit="short",
                   options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "pieType": "donut", "displayLabels": ["percent"], "orientation": "auto", "sort": "desc",
                            "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                       "values": ["value", "percent"], "calcs": []},
                            "tooltip": {"mode": "single", "sort": "none"}})


def red_above(v):
    return {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": v}]}


def dashboard(uid, title, description, tags, panels):
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "",
                      "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "11.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "links": [{"title": "bouncestream", "type": "dashboards", "tags": ["bouncestream"],
                   "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
                   "targetBlank": False, "tooltip": "", "url": ""}],
        "templating": {"list": variables()},
        "panels": panels,
    }


def overview():
    b = Board()
    b.row("Throughput")
    stat(b, "Input records / s", "Records read from the input topics, all formats.",
         f"sum(rate(bouncestream_input_records_total{{{SEL}}}[{RI}]))", unit="reqps")
    stat(b, "Classified events / s", "Events classified and produced to bouncestream.classified "
         "(tenant and vendor filters apply).",
         f"sum(rate(bouncestream_events_classified_total{{{SEL_TV}}}[{RI}]))", unit="reqps")
    stat(b, "Consumer lag", "Messages behind the end of the input topics, all partitions "
         "(librdkafka consumer_lag).", f"sum(bouncestream_consumer_lag_messages{{{SEL}}})",
         thresholds=red_above(10000))
    stat(b, "Instances ready", "Instances with partitions assigned and state restored, of those "
         "reporting.", f"sum(bouncestream_ready{{{SEL}}})")
    ts(b, "Throughput in / out", "In: input records read. Out: classified events, dead letters and "
       "decisions produced.",
       [(f"sum(rate(bouncestream_input_records_total{{{SEL}}}[{RI}]))", "in: input records"),
        (f"sum(rate(bouncestream_events_classified_total{{{SEL}}}[{RI}]))", "out: classified"),
        (f"sum(rate(bouncestream_dead_letters_total{{{SEL}}}[{RI}]))", "out: dead letters"),
        (f"sum(rate(bouncestream_decisions_total{{{SEL}}}[{RI}]))", "out: decisions")],
       unit="reqps")
    ts(b, "Input by format and result", "Input records per adapter (topic_format) and result "
       "(ok / dead_letter).",
       [(f"sum by (topic_format, result) (rate(bouncestream_input_records_total{{{SEL}}}[{RI}]))",
         "{{topic_format}} {{result}}")], unit="reqps", stack=True)
    ts(b, "Duplicates and late events", "Input events ignored as repeats of an event id, and events "
       "older than the lateness bound.",
       [(f"sum(rate(bouncestream_duplicate_events_total{{{SEL}}}[{RI}]))", "duplicates"),
        (f"sum(rate(bouncestream_late_events_total{{{SEL}}}[{RI}]))", "late")], unit="reqps")
    ts(b, "Age of the newest event processed", "Now minus the event time of the newest event each "
       "instance processed: how far behind real time the decisions are.",
       [(f"time() - max by (instance) (bouncestream_last_event_timestamp_seconds{{{SEL}}})",
         "{{instance}}")], unit="s")

    b.row("Lag and latency")
    ts(b, "Consumer lag by topic", "Sum over partitions.",
       [(f"sum by (topic) (bouncestream_consumer_lag_messages{{{SEL}}})", "{{topic}}")])
    ts(b, "Consumer lag, top 10 partitions", "The partitions furthest behind.",
       [(f"topk(10, max by (topic, partition) (bouncestream_consumer_lag_messages{{{SEL}}}))",
         "{{topic}}/{{partition}}")])
    ts(b, "Processing latency p50 / p99", "Event time to output produced, per stage "
       "(classify, decide).",
       [(f"histogram_quantile(0.5, sum by (le, stage) "
         f"(rate(bouncestream_processing_latency_seconds_bucket{{{SEL}}}[{RI}])))", "p50 {{stage}}"),
        (f"histogram_quantile(0.99, sum by (le, stage) "
         f"(rate(bouncestream_processing_latency_seconds_bucket{{{SEL}}}[{RI}])))", "p99 {{stage}}")],
       unit="s")
    ts(b, "Batch duration p50 / p99", "Wall time to process one poll batch, per stage "
       "(classify, state).",
       [(f"histogram_quantile(0.5, sum by (le, stage) "
         f"(rate(bouncestream_batch_duration_seconds_bucket{{{SEL}}}[{RI}])))", "p50 {{stage}}"),
        (f"histogram_quantile(0.99, sum by (le, stage) "
         f"(rate(bouncestream_batch_duration_seconds_bucket{{{SEL}}}[{RI}])))", "p99 {{stage}}"),
        (f"sum by (stage) (rate(bouncestream_batch_duration_seconds_sum{{{SEL}}}[{RI}])) / "
         f"sum by (stage) (rate(bouncestream_batch_duration_seconds_count{{{SEL}}}[{RI}]))",
         "mean {{stage}}")],
       unit="s")

    b.row("Errors and consumer group")
    ts(b, "Dead letters by reason", "Records written unchanged to bouncestream.dlq, by reason "
       "(header bouncestream.reason).",
       [(f"sum by (reason) (rate(bouncestream_dead_letters_total{{{SEL}}}[{RI}]))", "{{reason}}")],
       unit="reqps", stack=True)
    ts(b, "Producer delivery errors", "Output records that could not be delivered. The processor "
       "stops rather than commit past them.",
       [(f"sum by (instance) (increase(bouncestream_producer_delivery_errors_total{{{SEL}}}[{RI}]))",
         "{{instance}}")], bars=True)
    ts(b, "Rebalances", "Partition assignments and revocations.",
       [(f"sum by (instance) (increase(bouncestream_rebalances_total{{{SEL}}}[{RI}]))", "{{instance}}")],
       bars=True)
    ts(b, "Offset resets (data skipped)", "Out-of-range offsets: records deleted by retention before "
       "they were read.",
       [(f"sum by (instance) (increase(bouncestream_offset_resets_total{{{SEL}}}[{RI}]))",
         "{{instance}}")], bars=True)
    b.panel("table", "Build", "Version and revision of each instance.",
            [(f"max by (instance, version, revision) (bouncestream_build_info{{{SEL}}})", "", True)],
            w=24, h=5,
            options={"showHeader": True, "cellHeight": "sm", "frameIndex": 0},
            custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
            overrides=[{"matcher": {"id": "byName", "options": "Time"},
                        "properties": [{"id": "custom.hidden", "value": True}]},
                       {"matcher": {"id": "byName", "options": "Value"},
                        "properties": [{"id": "custom.hidden", "value": True}]}])
    return dashboard("bouncestream-overview", "bouncestream / Overview",
                     "Throughput, consumer lag, latency, dead letters and delivery errors of the "
                     "bouncestream consumer group.", ["bouncestream", "kafka"], b.panels)


def deliverability():
    b = Board()
    b.row("Who is blocking")
    stat(b, "Blocks / s", "Events whose responsible party is a filter platform, a recipient admin or "
         "an end user.", f"sum(rate(bouncestream_events_classified_total{{{SEL_TV}, {BLOCKING}}}[{RI}]))",
         unit="reqps")
    stat(b, "Filter-platform share of blocks", "Share of blocks owned by the filter itself (its IP "
         "reputation or blocklist), over the dashboard range.",
         f"sum(increase(bouncestream_events_classified_total{{{SEL_TV}, party=\"filter_platform\"}}[$__range])) / "
         f"sum(increase(bouncestream_events_classified_total{{{SEL_TV}, {BLOCKING}}}[$__range]))",
         unit="percentunit", decimals=1)
    stat(b, "IP pauses towards a filter", "Pauses of a sending IP/pool towards a filter vendor "
         "(scope ip_vendor) over the dashboard range: delist those IPs.",
         f"sum(increase(bouncestream_decisions_total{{{SEL}, kind=\"pause\", scope=\"ip_vendor\"}}[$__range]))",
         thresholds=red_above(1), decimals=0)
    stat(b, "Active suppressions", "Suppressions in force in the instances' state.",
         f"sum(bouncestream_active_decisions{{{SEL}, kind=\"suppress\"}})")
    ts(b, "Blocks by vendor", "Blocking events per filter vendor (all blocking parties).",
       [(f"sum by (vendor) (rate(bouncestream_events_classified_total{{{SEL_TV}, {BLOCKING}}}[{RI}]))",
         "{{vendor}}")], unit="reqps", stack=True)
    ts(b, "Blocks by party", "filter_platform: pause the IP and delist. recipient_admin: pause the "
       "sender towards that domain, talk to the admin. end_user: suppress that recipient for that "
       "sender only.",
       [(f"sum by (party) (rate(bouncestream_events_classified_total{{{SEL_TV}, {BLOCKING}}}[{RI}]))",
         "{{party}}")], unit="reqps", stack=True)
    ts(b, "Mimecast: platform vs recipient admin vs end user", "Mimecast rejections by who owns the "
       "block: Mimecast's own reputation/RBLs, the customer's administrator policy, or the "
       "recipient's personal block list.",
       [(f"sum by (party) (rate(bouncestream_events_classified_total{{{SEL}, tenant=~\"$tenant\", "
         f"vendor=\"mimecast\", {BLOCKING}}}[{RI}]))", "{{party}}")],
       unit="reqps", stack=True, w=16)
    pie(b, "Mimecast blocks by party", "Over the dashboard range.",
        f"sum by (party) (increase(bouncestream_events_classified_total{{{SEL}, tenant=~\"$tenant\", "
        f"vendor=\"mimecast\", {BLOCKING}}}[$__range]))", "{{party}}")
    ts(b, "All events by party", "Every classified event by responsible party, including dead "
       "addresses, sender configuration faults and transient failures.",
       [(f"sum by (party) (rate(bouncestream_events_classified_total{{{SEL_TV}}}[{RI}]))", "{{party}}")],
       unit="reqps", stack=True)
    ts(b, "Events by class", "Bounce class (KumoMTA class names).",
       [(f"sum by (class) (rate(bouncestream_events_classified_total{{{SEL_TV}}}[{RI}]))", "{{class}}")],
       unit="reqps", stack=True)
    bargauge(b, "Top reasons", "The ten most frequent fine-grained reasons over the dashboard range "
             "(all tenants and vendors).",
             f"topk(10, sum by (reason) (increase(bouncestream_events_by_reason_total{{{SEL}}}[$__range])))",
             "{{reason}}")
    bargauge(b, "Top tenants by blocks", "Tenants on the allow-list with the most blocking events "
             "over the dashboard range (others are 'other').",
             f"topk(10, sum by (tenant) (increase(bouncestream_events_classified_total{{{SEL_TV}, "
             f"{BLOCKING}}}[$__range])))", "{{tenant}}")

    b.row("Decisions")
    ts(b, "Decisions by kind and scope", "Suppressions, lifts, pauses, resumes and alerts published, "
       "by scope (tenant, sender, domain, ip_vendor).",
       [(f"sum by (kind, scope) (increase(bouncestream_decisions_total{{{SEL}}}[{RI}]))",
         "{{kind}} {{scope}}")], bars=True)
    ts(b, "Decisions by party", "Which responsible party the published decisions came from.",
       [(f"sum by (party) (increase(bouncestream_decisions_total{{{SEL}}}[{RI}]))", "{{party}}")],
       bars=True)
    ts(b, "Active suppressions / pauses / alerts", "Decisions in force, summed over instances.",
       [(f"sum by (kind) (bouncestream_active_decisions{{{SEL}}})", "{{kind}}")])
    bargauge(b, "Decisions over the range", "Decisions published over the dashboard range.",
             f"sum by (kind, scope) (increase(bouncestream_decisions_total{{{SEL}}}[$__range]))",
             "{{kind}} {{scope}}")

    b.row("Mailbox providers")
    ts(b, "Events by provider", "Recipient mailbox provider buckets (configured list, the rest "
       "'other').",
       [(f"sum by (provider) (rate(bouncestream_events_by_provider_total{{{SEL}}}[{RI}]))", "{{provider}}")],
       unit="reqps", stack=True)
    ts(b, "Blocks by provider", "Blocking events per provider bucket and party.",
       [(f"sum by (provider, party) (rate(bouncestream_events_by_provider_total{{{SEL}, {BLOCKING}}}[{RI}]))",
         "{{provider}} {{party}}")], unit="reqps", stack=True)
    ts(b, "Folded into 'other'", "Share of events whose recipient domain is in no provider bucket. "
       "A high share means the provider list needs entries.",
       [(f"sum(rate(bouncestream_provider_folded_total{{{SEL}}}[{RI}])) / "
         f"sum(rate(bouncestream_events_by_provider_total{{{SEL}}}[{RI}]))", "folded")],
       unit="percentunit", w=24, h=6)
    return dashboard("bouncestream-deliverability", "bouncestream / Deliverability",
                     "Who is blocking (filter platform, recipient admin, end user), by vendor, "
                     "provider and reason, and the suppressions and pauses bouncestream published.",
                     ["bouncestream", "deliverability"], b.panels)


def state_health():
    b = Board()
    b.row("Instances")
    stat(b, "Targets up", "Scrape targets of the selected jobs answering.",
         f"sum(up{{{SEL}}})")
    stat(b, "Instances ready", "bouncestream_ready summed over instances.",
         f"sum(bouncestream_ready{{{SEL}}})")
    stat(b, "Partitions restoring", "Partitions whose state is being rebuilt from the changelog.",
         f"sum(bouncestream_restoring_partitions{{{SEL}}})", thresholds=red_above(1))
    stat(b, "State write errors (range)", "Failed state writes over the dashboard range.",
         f"sum(increase(bouncestream_state_write_errors_total{{{SEL}}}[$__range]))",
         thresholds=red_above(1), decimals=0)
    ts(b, "Ready", "1 = partitions assigned and state restored.",
       [(f"max by (instance) (bouncestream_ready{{{SEL}}})", "{{instance}}")], h=6)
    ts(b, "Assigned partitions", "Partitions each instance owns, per topic.",
       [(f"sum by (instance, topic) (bouncestream_assigned_partitions{{{SEL}}})", "{{instance}} {{topic}}")],
       h=6)
    ts(b, "Restore progress", "Changelog records applied per second while restoring, and the "
       "partitions still restoring.",
       [(f"sum by (instance) (rate(bouncestream_restore_records_total{{{SEL}}}[{RI}]))",
         "{{instance}} records/s"),
        (f"sum by (instance) (bouncestream_restoring_partitions{{{SEL}}})", "{{instance}} partitions")])
    ts(b, "Active decisions by kind", "Decisions in force in each instance's state.",
       [(f"sum by (instance, kind) (bouncestream_active_decisions{{{SEL}}})", "{{instance}} {{kind}}")])

    b.row("RocksDB")
    ts(b, "Live data / SST files", "RocksDB estimate-live-data-size and total-sst-files-size. A growing "
       "gap is space held by obsolete files until compaction.",
       [(f"sum by (instance) (bouncestream_state_live_bytes{{{SEL}}})", "{{instance}} live"),
        (f"sum by (instance) (bouncestream_state_sst_bytes{{{SEL}}})", "{{instance}} sst")], unit="bytes")
    ts(b, "Pending compaction", "RocksDB estimate-pending-compaction-bytes; a steady rise precedes "
       "write stalls.",
       [(f"sum by (instance) (bouncestream_state_pending_compaction_bytes{{{SEL}}})", "{{instance}}")],
       unit="bytes")
    ts(b, "State memory", "Memory of the state store (estimate): hot window cache + block cache "
       "(with the memtables charged to it) + table readers; bounded by [state] hot_window_cache + "
       "block_cache + write_buffer.",
       [(f"sum by (instance) (bouncestream_state_memory_bytes{{{SEL}}})", "{{instance}}")],
       unit="bytes")
    ts(b, "Write stalls", "Share of time RocksDB stalled writes (seconds of stall per second).",
       [(f"sum by (instance) (rate(bouncestream_state_write_stall_seconds_total{{{SEL}}}[{RI}]))",
         "{{instance}}")], unit="percentunit")
    ts(b, "State write errors", "State writes that failed (disk full, read-only volume).",
       [(f"sum by (instance) (increase(bouncestream_state_write_errors_total{{{SEL}}}[{RI}]))",
         "{{instance}}")], bars=True)

    b.row("Producer")
    ts(b, "Producer queue", "Messages in librdkafka's producer queue (msg_cnt).",
       [(f"sum by (instance) (bouncestream_producer_queue_messages{{{SEL}}})", "{{instance}}")])
    ts(b, "Producer delivery errors", "Records that could not be delivered.",
       [(f"sum by (instance) (increase(bouncestream_producer_delivery_errors_total{{{SEL}}}[{RI}]))",
         "{{instance}}")], bars=True)

    b.row("Kafka brokers")
    ts(b, "Request retries", "Kafka requests the producer and consumer retried (broker errors, "
       "timeouts, leader moves; librdkafka statistics txretries).",
       [(f"sum by (instance, client) (increase(bouncestream_kafka_request_retries_total{{{SEL}}}[{RI}]))",
         "{{instance}} {{client}}")], bars=True)
    ts(b, "Broker disconnects", "Broker connections lost (a broker down or restarting).",
       [(f"sum by (instance, client) (increase(bouncestream_kafka_disconnects_total{{{SEL}}}[{RI}]))",
         "{{instance}} {{client}}")], bars=True)
    ts(b, "Broker round-trip time", "Largest average request round-trip time over the brokers of "
       "each client.",
       [(f"max by (instance, client) (bouncestream_kafka_broker_rtt_seconds{{{SEL}}})",
         "{{instance}} {{client}}")], unit="s")
    ts(b, "Offset commit failures and lost assignments", "Offset commits that failed (retried with "
       "the next commit) and partitions whose assignment was lost (session expired).",
       [(f"sum by (instance) (increase(bouncestream_offset_commit_failures_total{{{SEL}}}[{RI}]))",
         "{{instance}} commit failures"),
        (f"sum by (instance) (increase(bouncestream_partitions_lost_total{{{SEL}}}[{RI}]))",
         "{{instance}} partitions lost")], bars=True)
    return dashboard("bouncestream-state", "bouncestream / State and health",
                     "Readiness, partition assignment, state restore, RocksDB size, compaction, write "
                     "stalls and errors, and the producer queue of each instance.",
                     ["bouncestream", "rocksdb"], b.panels)


def render():
    return {
        "bouncestream-overview.json": overview(),
        "bouncestream-deliverability.json": deliverability(),
        "bouncestream-state.json": state_health(),
    }


def main():
    check = "--check" in sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, d in render().items():
        text = json.dumps(d, indent=2, ensure_ascii=False) + "\n"
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python3 ops/grafana/generate_dashboards.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
