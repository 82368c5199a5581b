"""Model server for the breast-cancer example, speaking Vertex AI's custom-container serving contract.

Listens on AIP_HTTP_PORT; GET AIP_HEALTH_ROUTE answers 200 once the model is loaded; POST AIP_PREDICT_ROUTE
takes {"instances": [...]} where each instance is an object keyed by feature name (or a list in feature
order) and answers {"predictions": [{"malignant_probability": p, "label": 0|1}], "deployedModelId": ...}.
The model is read from AIP_STORAGE_URI (a local path or file:// URI here; gs:// on Vertex).
"""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib

storage = os.environ["AIP_STORAGE_URI"].removeprefix("file://")
model = joblib.load(os.path.join(storage, "model.joblib"))
with open(os.path.join(storage, "features.json")) as f:
    features = json.load(f)
health_route = os.environ.get("AIP_HEALTH_ROUTE", "/health")
predict_route = os.environ.get("AIP_PREDICT_ROUTE", "/predict")


def to_row(instance):
    if isinstance(instance, dict):
        missing = [name for name in features if name not in instance]
        if missing:
            raise ValueError(f"instance lacks features: {', '.join(missing[:5])}")
        return [float(instance[name]) for name in features]
    if isinstance(instance, list) and len(instance) == len(features):
        return [float(v) for v in instance]
    raise ValueError(f"each instance must be an object keyed by feature name or a list of {len(features)} numbers")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        print(f"{self.address_string()} {fmt % args}", flush=True)

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == health_route:
            return self._send(200, {"status": "ok"})
        self._send(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        if self.path != predict_route:
            return self._send(404, {"error": f"no route {self.path}"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            rows = [to_row(i) for i in body["instances"]]
        except (ValueError, KeyError, TypeError) as err:
            return self._send(400, {"error": str(err)})
        proba = model.predict_proba(rows)[:, 1]
        predictions = [{"malignant_probability": round(float(p), 6), "label": int(p >= 0.5)} for p in proba]
        self._send(200, {"predictions": predictions, "deployedModelId": os.environ.get("AIP_DEPLOYED_MODEL_ID", "")})


port = int(os.environ.get("AIP_HTTP_PORT", "8080"))
print(f"serving {storage} on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
