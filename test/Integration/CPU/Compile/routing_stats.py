# Routing statistics of a compiled model (`moe-run --profile`), checked
# against numpy's routing of the same logits: tokens per expert (exact),
# mean gate weight, mean router probability and the derived figures
# (max/mean load, coefficient of variation, idle experts, Switch auxiliary
# value). Skewed logits leave experts idle. Statistics are off by default
# (no profile, nothing recorded); moe-report renders the profile as a
# table and an SVG that parses as XML with one heatmap cell and one bar per
# expert; the Python API reads the same numbers.
# RUN: rm -rf %t && mkdir -p %t
# RUN: %python %s %t > %t/out.txt
# RUN: FileCheck %s < %t/out.txt
# RUN: moe-report %t/profile.json --svg %t/loads.svg | FileCheck %s --check-prefix=REPORT
# RUN: %python -c "import xml.etree.ElementTree as E; r = E.parse('%t/loads.svg').getroot(); print('rects', len(r.findall('{http://www.w3.org/2000/svg}rect')))" | FileCheck %s --check-prefix=SVG
# RUN: not moe-report %t/missing.json 2>&1 | FileCheck %s --check-prefix=MISSING
# CHECK: OK: tokens per expert
# CHECK: OK: mean gate weight
# CHECK: OK: mean probability
# CHECK: OK: derived figures
# CHECK: OK: idle experts 3
# CHECK: OK: off by default
# CHECK: OK: python stats
# CHECK: OK: profile-guided build: experts scheduled busiest first, same results
# REPORT: layer 0 'moe0': 8 experts, top-2, 3 runs, 99 tokens
# REPORT: idle experts 3
# REPORT: expert   tokens   share
# REPORT: loads drawn in
# SVG: rects 16
# MISSING: moe-report: error: cannot read

import json
import os
import subprocess
import sys

import numpy as np

import moe_reference as ref
from onnx_models import microsoft_moe

out = sys.argv[1]
E, d, f, k, T, runs = 8, 16, 12, 2, 33, 3
model = os.path.join(out, "moe.onnx")
microsoft_moe(model, E, d, f, activation="swiglu", k=k, fusion=1, normalize=1,
              seed=2)
library = os.path.join(out, "moe.so")
subprocess.run(["moe-compile", model, "-o", library], check=True)

rng = np.random.default_rng(5)
x = rng.standard_normal((T, d)).astype(np.float32)
# Skewed: experts 5, 6 and 7 are never among the top 2.
logits = rng.standard_normal((T, E)).astype(np.float32)
logits[:, 5:] -= 8.0
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "logits.npy"), logits)
inputs = ["--input", "x=" + os.path.join(out, "x.npy"),
          "--input", "logits=" + os.path.join(out, "logits.npy")]
profile = os.path.join(out, "profile.json")
subprocess.run(["moe-run", library, *inputs, "--bench", str(runs - 1),
                "--profile", profile], check=True, stdout=subprocess.DEVNULL)
with open(profile) as fp:
    (layer,) = json.load(fp)["layers"]

ids, weights = ref.route(logits, "softmax_topk", k, renormalize=True)
counts = np.bincount(ids.reshape(-1), minlength=E)
assert layer["calls"] == runs and layer["tokens"] == runs * T, layer
assert layer["tokens_per_expert"] == list(runs * counts), (layer, counts)
print("OK: tokens per expert")
gate = np.array([weights[ids == e].mean() if counts[e] else 0.0
                 for e in range(E)])
np.testing.assert_allclose(layer["mean_gate_weight"], gate, rtol=1e-4, atol=1e-6)
print("OK: mean gate weight")
probs = ref.softmax(logits.astype(np.float64)).mean(axis=0)
np.testing.assert_allclose(layer["mean_probability"], probs, rtol=1e-4, atol=1e-7)
print("OK: mean probability")
mean = counts.mean()
np.testing.assert_allclose(layer["max_over_mean_load"], counts.max() / mean, rtol=1e-4)
np.testing.assert_allclose(layer["load_cv"], counts.std() / mean, rtol=1e-4)
aux = E * np.sum(counts / counts.sum() * probs)
np.testing.assert_allclose(layer["switch_aux_loss"], aux, rtol=1e-4)
print("OK: derived figures")
assert layer["idle_experts"] == int((counts == 0).sum()) == 3
print("OK: idle experts", layer["idle_experts"])

# Without --profile nothing is recorded (the C API's JSON stays empty).
import compiled_model  # noqa: E402
instance = compiled_model.Model(library)
instance.run([x, logits])
lib = instance.lib
lib.moe_model_stats_json.restype = compiled_model.ctypes.c_void_p
raw = lib.moe_model_stats_json(instance.handle)
text = compiled_model.ctypes.string_at(raw).decode()
lib.moe_model_free_buffer(raw)
assert json.loads(text)["layers"] == [], text
print("OK: off by default")

# The Python package reads the same statistics.
sys.path.insert(0, os.path.join(os.environ["MOE_TOOLS_DIR"], "..",
                                "python_packages"))
try:
    import moe_compiler
except ImportError:
    print("OK: python stats (package not built)")
else:
    py_model = moe_compiler.load(library)
    py_model.reset_stats()
    py_model.record_stats()
    py_model.run({"x": x, "logits": logits})
    stats = py_model.stats()
    assert stats["layers"][0]["tokens_per_expert"] == list(counts), stats
    print("OK: python stats")

# Profile-guided compilation: the recorded loads order the grouped
# matmuls' work (busiest expert first); results are bitwise the same.
guided = os.path.join(out, "moe_guided.so")
subprocess.run(["moe-compile", model, "-o", guided, "--profile", profile], check=True)
ir = subprocess.run(["moe-compile", model, "--emit=mlir", "-o", "-", "--profile", profile],
                    check=True, capture_output=True, text=True).stdout
order = list(np.argsort(-counts, kind="stable"))
expected_constant = "dense<[" + ", ".join(str(i) for i in order) + f"]> : tensor<{E}xi32>"
assert expected_constant in ir, f"no {expected_constant} in the IR"
plain_out = compiled_model.Model(library).run([x, logits])[0]
guided_out = compiled_model.Model(guided).run([x, logits])[0]
assert np.array_equal(plain_out, guided_out)
print("OK: profile-guided build: experts scheduled busiest first, same results")
