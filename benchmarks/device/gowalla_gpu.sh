#!/usr/bin/env bash
# LightGCN and Mult-VAE on Gowalla on a lent CUDA machine (the 2-core CPU machine needs
# ~100 min per LightGCN fit). Used through the `device` tool, from the repository root:
#   .whl      wheels of the packages that machine lacks (pydantic, optuna and their needs)
#   .gpudata  a copy of ../shared/data/gowalla      .gpuruns  finished CPU runs to reuse
# Results come back as $OUT/gowalla_gpu.tgz; unpack into runs/ and re-run
# `advrec run benchmarks/baselines_gowalla.toml` on the CPU machine to rebuild the table.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:${PYTHONPATH:-} ADVREC_DATA=$PWD/.gpudata PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pytest -q -p no:cacheprovider tests/test_models_device.py 2>&1 | tail -3
mkdir -p runs && cp -r .gpuruns/baselines-gowalla runs/
start=$(date +%s)
timeout -k 5 "${BUDGET_S:-470}" python3 -m advrec.cli run benchmarks/baselines_gowalla.toml --jobs "${JOBS:-10}" \
  > "$OUT/run.log" 2>&1
echo "run exit $? after $(( $(date +%s) - start )) s"
tail -c 3000 "$OUT/run.log"
tar czf "$OUT/gowalla_gpu.tgz" --exclude=model.safetensors runs/baselines-gowalla
