#!/usr/bin/env bash
# Runs of benchmarks/baselines_gowalla.toml on a lent CUDA machine (Mult-VAE costs ~70 s per epoch
# on the 2-core CPU machine). Used through the `device` tool, from the repository root, with
#   .whl      wheels of the packages that machine lacks (pydantic, optuna and their needs)
#   .gpudata  a copy of ../shared/data/gowalla      .gpuruns  finished runs to reuse (optional)
# EXP: the experiment file (default: the Gowalla baselines); MODELS: the run folders to send back.
# Results come back as $OUT/gowalla_gpu.tgz (without model weights); unpack it in the repository
# root and re-run `advrec run benchmarks/baselines_gowalla.toml` on the CPU machine: the finished
# runs are reused and the table is rebuilt with every model.
set -u
EXP=${EXP:-benchmarks/baselines_gowalla.toml}
MODELS=${MODELS:-lightgcn multvae}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:${PYTHONPATH:-} ADVREC_DATA=$PWD/.gpudata PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
mkdir -p runs && { [ -d .gpuruns/baselines-gowalla ] && cp -r .gpuruns/baselines-gowalla runs/ || true; }
start=$(date +%s)
timeout -k 5 "${BUDGET_S:-470}" python3 -m advrec.cli run "$EXP" --jobs "${JOBS:-10}" > "$OUT/run.log" 2>&1
echo "run exit $? after $(( $(date +%s) - start )) s"
tail -c 2000 "$OUT/run.log"
cd runs/baselines-gowalla/gowalla && tar czf "$OUT/gowalla_gpu.tgz" --exclude=model.safetensors $MODELS
