#!/usr/bin/env python3
"""A fake MLflow tracking server and W&B API for the upload tests (tests/unit/test_upload.c).

Like MLflow's file store, it keeps every metric point it is sent, a repeated one too:
an upload that sends a point twice shows up as a duplicate in /_state.

    fake_dashboard.py [PORT]     (0 or none: a free port) -- prints "PORT <n>" when ready

It checks every request against the documented API -- path, method, JSON shape, the
log-batch limits (1000 metrics, 100 params, 100 tags, 1000 items), param value length,
the auth header -- answers like the real service, and records each violation. Control:
  POST /_control/fail {"path": SUBSTRING, "mode": M, "count": N, "delay": S}
       ("after": K lets the first K matching requests through; each rule counts its
       own, and of the rules due, the first added fails the request)
       M = "500" (answer 500 without doing anything), "500_after" (do it, then answer
       500: the client never learns it worked), "delay" (do it, then sleep S seconds
       before answering, beyond the client's timeout), "close" (drop the connection)
  GET  /_state   everything stored, request counts, violations (JSON)
  POST /_quit    stop
Credentials expected: env FAKE_MLFLOW_TOKEN (Bearer) and FAKE_WANDB_KEY (basic api:KEY).
"""
import base64
import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATE = {
    "violations": [],
    "requests": {},  # "METHOD path" -> count
    "failures_injected": 0,
    "mlflow": {"experiments": {}, "runs": {}, "runs_created": 0},
    "wandb": {"runs": {}, "upserts": 0},
}
FAILS = []  # [{"path", "mode", "count", "delay"}]
MLFLOW_TOKEN = os.environ.get("FAKE_MLFLOW_TOKEN", "")
WANDB_KEY = os.environ.get("FAKE_WANDB_KEY", "")
PARAM_VALUE_MAX = 500
MLFLOW = "/api/2.0/mlflow/"


class Reject(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def violation(msg):
    STATE["violations"].append(msg)
    raise Reject(400, "INVALID_PARAMETER_VALUE", msg)


def need(cond, msg):
    if not cond:
        violation(msg)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_str(v):
    return isinstance(v, str)


# ---- MLflow ----

def ml_get_by_name(q, body):
    name = q.get("experiment_name", [None])[0]
    need(is_str(name) and name, "get-by-name: experiment_name missing")
    for eid, e in STATE["mlflow"]["experiments"].items():
        if e["name"] == name:
            return {"experiment": {"experiment_id": eid, "name": name, "lifecycle_stage": "active"}}
    raise Reject(404, "RESOURCE_DOES_NOT_EXIST", "Experiment '%s' does not exist." % name)


def ml_create_experiment(q, body):
    need(set(body) <= {"name", "artifact_location", "tags"}, "experiments/create: unknown fields %s" % list(body))
    need(is_str(body.get("name")) and body["name"], "experiments/create: name must be a string")
    exps = STATE["mlflow"]["experiments"]
    if any(e["name"] == body["name"] for e in exps.values()):
        raise Reject(400, "RESOURCE_ALREADY_EXISTS", "Experiment already exists.")
    eid = str(len(exps) + 1)
    exps[eid] = {"name": body["name"]}
    return {"experiment_id": eid}


def check_kv_list(lst, what, max_key=250, max_value=5000):
    need(isinstance(lst, list), "%s must be a list" % what)
    for kv in lst:
        need(isinstance(kv, dict) and set(kv) == {"key", "value"}, "%s entries are {key, value}: %r" % (what, kv))
        need(is_str(kv["key"]) and 0 < len(kv["key"]) <= max_key, "%s key bad: %r" % (what, kv["key"]))
        need(is_str(kv["value"]) and len(kv["value"]) <= max_value, "%s value bad or too long (%d)" % (what, len(str(kv["value"]))))


def ml_search(q, body):
    need(set(body) <= {"experiment_ids", "filter", "max_results", "order_by", "run_view_type", "page_token"},
         "runs/search: unknown fields %s" % list(body))
    ids = body.get("experiment_ids")
    need(isinstance(ids, list) and all(is_str(i) for i in ids), "runs/search: experiment_ids must be strings")
    need(is_int(body.get("max_results", 1)) and 0 < body.get("max_results", 1) <= 50000, "runs/search: max_results")
    flt = body.get("filter", "")
    m = re.fullmatch(r"tags\.`([^`]+)` = '([^']*)'", flt)
    need(m is not None, "runs/search: unsupported filter %r" % flt)
    key, value = m.group(1), m.group(2)
    found = [r for r in STATE["mlflow"]["runs"].values()
             if r["experiment_id"] in ids and r["tags"].get(key) == value]
    return {"runs": [run_json(r) for r in found[: body.get("max_results", 1000)]]} if found else {}


def run_json(r):
    return {"info": {"run_id": r["run_id"], "run_uuid": r["run_id"], "experiment_id": r["experiment_id"],
                     "run_name": r["name"], "status": r["status"], "start_time": r["start_time"],
                     "lifecycle_stage": "active"},
            "data": {"tags": [{"key": k, "value": v} for k, v in r["tags"].items()]}}


def ml_create_run(q, body):
    need(set(body) <= {"experiment_id", "user_id", "run_name", "start_time", "tags"},
         "runs/create: unknown fields %s" % list(body))
    need(body.get("experiment_id") in STATE["mlflow"]["experiments"], "runs/create: no such experiment_id")
    need(is_int(body.get("start_time", 0)), "runs/create: start_time must be an integer (ms)")
    need(is_str(body.get("run_name", "")), "runs/create: run_name must be a string")
    tags = body.get("tags", [])
    check_kv_list(tags, "runs/create tags")
    need(len(tags) <= 100, "runs/create: more than 100 tags")
    rid = uuid.uuid4().hex
    STATE["mlflow"]["runs"][rid] = {
        "run_id": rid, "experiment_id": body["experiment_id"], "name": body.get("run_name", ""),
        "start_time": body.get("start_time"), "status": "RUNNING", "end_time": None,
        "tags": {t["key"]: t["value"] for t in tags}, "params": {}, "metrics": [], "metric_posts": 0}
    STATE["mlflow"]["runs_created"] += 1
    return {"run": run_json(STATE["mlflow"]["runs"][rid])}


def ml_run(body, what):
    need(is_str(body.get("run_id")), "%s: run_id must be a string" % what)
    r = STATE["mlflow"]["runs"].get(body["run_id"])
    if r is None:
        raise Reject(404, "RESOURCE_DOES_NOT_EXIST", "Run '%s' not found" % body["run_id"])
    return r


def ml_log_batch(q, body):
    need(set(body) <= {"run_id", "metrics", "params", "tags"}, "log-batch: unknown fields %s" % list(body))
    r = ml_run(body, "log-batch")
    metrics, params, tags = body.get("metrics", []), body.get("params", []), body.get("tags", [])
    need(len(metrics) <= 1000, "log-batch: %d metrics (limit 1000)" % len(metrics))
    need(len(params) <= 100, "log-batch: %d params (limit 100)" % len(params))
    need(len(tags) <= 100, "log-batch: %d tags (limit 100)" % len(tags))
    need(len(metrics) + len(params) + len(tags) <= 1000, "log-batch: more than 1000 items")
    check_kv_list(params, "log-batch params", 250, PARAM_VALUE_MAX)
    check_kv_list(tags, "log-batch tags")
    for m in metrics:
        need(isinstance(m, dict) and set(m) <= {"key", "value", "timestamp", "step"} and
             {"key", "value", "timestamp"} <= set(m), "log-batch: metric fields %r" % m)
        need(is_str(m["key"]) and re.fullmatch(r"[\w\-. /]{1,250}", m["key"]), "log-batch: metric key %r" % m["key"])
        v = m["value"]
        need((isinstance(v, (int, float)) and not isinstance(v, bool)) or v in ("NaN", "Infinity", "-Infinity"),
             "log-batch: metric value %r" % v)
        need(is_int(m["timestamp"]) and is_int(m.get("step", 0)), "log-batch: timestamp and step are integers")
    for p in params:
        old = r["params"].get(p["key"])
        if old is not None and old != p["value"]:
            raise Reject(400, "INVALID_PARAMETER_VALUE", "Changing param values is not allowed.")
        r["params"][p["key"]] = p["value"]
    for t in tags:
        r["tags"][t["key"]] = t["value"]
    for m in metrics:
        # MLflow's file store appends every point it is given, an identical one again too
        r["metrics"].append({"key": m["key"], "step": m.get("step", 0), "timestamp": m["timestamp"],
                             "value": m["value"]})
        r["metric_posts"] += 1
    return {}


HISTORY_PAGE = int(os.environ.get("FAKE_MLFLOW_HISTORY_PAGE", "25000"))


def ml_get_history(q, body):
    run_id = q.get("run_id", q.get("run_uuid", [None]))[0]
    key = q.get("metric_key", [None])[0]
    need(is_str(run_id) and is_str(key) and key, "metrics/get-history: run_id and metric_key are required")
    r = ml_run({"run_id": run_id}, "metrics/get-history")
    limit = int(q.get("max_results", [str(HISTORY_PAGE)])[0])
    need(0 < limit <= 25000, "metrics/get-history: max_results %d" % limit)
    limit = min(limit, HISTORY_PAGE)
    start = int(q.get("page_token", ["0"])[0] or 0)
    points = [m for m in r["metrics"] if m["key"] == key]
    out = {"metrics": points[start:start + limit]}
    if start + limit < len(points):
        out["next_page_token"] = str(start + limit)
    return out


def ml_update(q, body):
    need(set(body) <= {"run_id", "run_uuid", "status", "end_time", "run_name"}, "runs/update: unknown fields")
    r = ml_run(body, "runs/update")
    need(body.get("status") in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"), "runs/update: status %r" % body.get("status"))
    need(is_int(body.get("end_time", 0)), "runs/update: end_time must be an integer")
    r["status"], r["end_time"] = body["status"], body.get("end_time")
    return {"run_info": run_json(r)["info"]}


ML_ROUTES = {
    ("GET", "experiments/get-by-name"): ml_get_by_name,
    ("POST", "experiments/create"): ml_create_experiment,
    ("POST", "runs/search"): ml_search,
    ("POST", "runs/create"): ml_create_run,
    ("POST", "runs/log-batch"): ml_log_batch,
    ("POST", "runs/update"): ml_update,
    ("GET", "metrics/get-history"): ml_get_history,
}

# ---- W&B ----


def wb_graphql(body):
    need(set(body) <= {"query", "variables", "operationName"}, "graphql: unknown fields")
    qtext = body.get("query")
    need(is_str(qtext) and "upsertBucket" in qtext and qtext.strip().startswith("mutation"),
         "graphql: only the upsertBucket mutation is served")
    for field in ("modelName: $project", "entityName: $entity", "name: $name"):
        need(field in qtext, "graphql: upsertBucket input lacks %s" % field)
    v = body.get("variables")
    need(isinstance(v, dict), "graphql: variables must be an object")
    need(is_str(v.get("name")) and re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", v["name"]), "graphql: run name (id) %r" % v.get("name"))
    need(is_str(v.get("project")) and v["project"], "graphql: project")
    need(v.get("entity") is None or is_str(v["entity"]), "graphql: entity")
    if "config" in v:
        need(is_str(v["config"]), "graphql: config is a JSONString")
        cfg = json.loads(v["config"])
        need(all(isinstance(x, dict) and "value" in x for x in cfg.values()), "graphql: config entries are {value, desc}")
    entity = v.get("entity") or "default-entity"
    key = "%s/%s/%s" % (entity, v["project"], v["name"])
    runs = STATE["wandb"]["runs"]
    inserted = key not in runs
    if inserted:
        runs[key] = {"history": [], "complete": None, "config": None, "displayName": None, "state": None}
    r = runs[key]
    r["config"] = v.get("config", r["config"])
    r["displayName"] = v.get("displayName", r["displayName"])
    r["state"] = v.get("state", r["state"])
    STATE["wandb"]["upserts"] += 1
    return {"data": {"upsertBucket": {"bucket": {"id": "b-" + v["name"], "name": v["name"],
                                                  "displayName": r["displayName"],
                                                  "project": {"name": v["project"], "entity": {"name": entity}}},
                                       "inserted": inserted}}}


def wb_file_stream(entity, project, run, body):
    r = STATE["wandb"]["runs"].get("%s/%s/%s" % (entity, project, run))
    if r is None:
        raise Reject(404, "NOT_FOUND", "run not found")
    need(set(body) <= {"files", "complete", "exitcode", "failed", "dropped", "uploaded"}, "file_stream: unknown fields %s" % list(body))
    if "complete" in body:
        need(body["complete"] is True and is_int(body.get("exitcode")), "file_stream: complete needs exitcode")
        r["complete"] = body["exitcode"]
    for name, f in body.get("files", {}).items():
        need(name == "wandb-history.jsonl", "file_stream: unexpected file %s" % name)
        need(isinstance(f, dict) and set(f) == {"offset", "content"}, "file_stream: file entry is {offset, content}")
        off, content = f["offset"], f["content"]
        need(is_int(off) and 0 <= off <= len(r["history"]), "file_stream: offset %r leaves a gap (have %d lines)" % (off, len(r["history"])))
        need(isinstance(content, list) and all(is_str(c) for c in content), "file_stream: content is a list of strings")
        rows = [json.loads(c) for c in content]
        need(all(is_int(x.get("_step")) for x in rows), "file_stream: every row needs an integer _step")
        r["history"][off:off + len(rows)] = rows  # a repeated offset rewrites, as the service does
    return {"exitcode": None, "limits": {}}


def finite(x):
    """NaN and infinities as strings: /_state must be strict JSON."""
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return str(x)
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


# ---- HTTP ----


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def handle_any(self, method):
        url = urlparse(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if url.path.startswith("/_"):
            return self.control(url.path, raw)
        fail = None
        with LOCK:
            STATE["requests"]["%s %s" % (method, url.path)] = STATE["requests"].get("%s %s" % (method, url.path), 0) + 1
            for f in FAILS:  # every rule counts its own "after" over all matching requests
                if f["count"] > 0 and f["path"] in url.path:
                    if f.get("after", 0) > 0:  # let this many through first
                        f["after"] -= 1
                        continue
                    if fail is None:
                        f["count"] -= 1
                        fail = f
                        STATE["failures_injected"] += 1
        if fail and fail["mode"] == "500":
            return self.reply(500, {"error_code": "INTERNAL_ERROR", "message": "injected failure"})
        if fail and fail["mode"] == "close":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        with LOCK:
            try:
                status, out = 200, self.dispatch(method, url, raw)
            except Reject as e:
                status, out = e.status, {"error_code": e.code, "message": e.message}
            except Exception as e:  # a shape the handlers did not expect
                STATE["violations"].append("%s %s: %r" % (method, url.path, e))
                status, out = 400, {"error_code": "MALFORMED_REQUEST", "message": repr(e)}
        if fail and fail["mode"] == "500_after":
            return self.reply(500, {"error_code": "INTERNAL_ERROR", "message": "injected after the work"})
        if fail and fail["mode"] == "delay":
            time.sleep(fail.get("delay", 5))
        try:
            self.reply(status, out)
        except OSError:
            pass

    def dispatch(self, method, url, raw):
        p = url.path
        if p.startswith(MLFLOW):
            auth = self.headers.get("Authorization", "")
            if MLFLOW_TOKEN and auth != "Bearer " + MLFLOW_TOKEN:
                STATE["violations"].append("mlflow: bad Authorization header")
                raise Reject(401, "UNAUTHENTICATED", "bad token")
            fn = ML_ROUTES.get((method, p[len(MLFLOW):]))
            if fn is None:
                violation("mlflow: no endpoint %s %s" % (method, p))
            body = {}
            if method == "POST":
                need(self.headers.get("Content-Type", "").startswith("application/json"), "mlflow: Content-Type must be JSON")
                body = json.loads(raw)
                need(isinstance(body, dict), "mlflow: body must be an object")
            return fn(parse_qs(url.query), body)
        auth = self.headers.get("Authorization", "")
        expect = "Basic " + base64.b64encode(("api:" + WANDB_KEY).encode()).decode()
        if WANDB_KEY and auth != expect:
            STATE["violations"].append("wandb: bad Authorization header")
            raise Reject(401, "UNAUTHENTICATED", "bad key")
        need(method == "POST", "wandb: %s not served" % method)
        body = json.loads(raw)
        if p == "/graphql":
            return wb_graphql(body)
        m = re.fullmatch(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream", p)
        if m:
            return wb_file_stream(m.group(1), m.group(2), m.group(3), body)
        violation("no endpoint %s %s" % (method, p))

    def control(self, path, raw):
        with LOCK:
            if path == "/_control/fail":
                FAILS.append(json.loads(raw))
                return self.reply(200, {})
            if path == "/_state":
                out = finite(STATE)
                return self.reply(200, out)
            if path == "/_quit":
                self.reply(200, {})
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return
        self.reply(404, {})


def watchdog(parent, limit_s):
    """Never outlive the test that started us (nor run for more than limit_s)."""
    start = time.time()
    while os.getppid() == parent and time.time() - start < limit_s:
        time.sleep(0.2)
    os._exit(0)


def main():
    threading.Thread(target=watchdog, args=(os.getppid(), 300), daemon=True).start()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
