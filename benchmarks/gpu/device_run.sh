#!/usr/bin/env bash
# One run on a lent GPU machine (16 CPU cores + 1 GPU, Python 3.12, no network), from the repo
# root. Carried in .gpu/ (never committed): wheels for spaCy / spacy-transformers / spacy-beto
# (py3.12), data/{train,dev}/{ner,emotion}.spacy imported from ../shared/data, BETO's vocab.txt.
#  1. benchmarks/accuracy.py on the CPU cores, its training runs side by side;
#  2. meanwhile, configs/beto.cfg training throughput on the GPU on a BETO-shaped random model,
#     with and without mixed precision.
# Results land in $OUT.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
{ python3 -c "import spacy, spacy_transformers, spacy_beto, torch, cupy; \
print('spacy', spacy.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"; \
  nproc; nvidia-smi -L; } > "$OUT/env.txt" 2>&1
mkdir -p .gpu/accuracy
python3 benchmarks/accuracy.py --work-dir .gpu/accuracy --steps "${STEPS:-1000}" \
  --eval-frequency "${EVAL:-250}" --jobs 6 --threads 2 --seeds 0 1 \
  --output "$OUT/accuracy.md" > "$OUT/accuracy.log" 2>&1 &
acc=$!
python3 -m spacy_beto build-mini --vocab .gpu/vocab.txt --layers 12 --hidden 768 --heads 12 \
  --output /tmp/beto-shaped > "$OUT/gpu.log" 2>&1
for mp in --mixed-precision ""; do
  python3 benchmarks/train_throughput.py configs/beto.cfg --transformer /tmp/beto-shaped \
    --train-ner .gpu/accuracy/data/train/ner.spacy \
    --train-textcat .gpu/accuracy/data/train/emotion.spacy \
    --steps 100 --warmup 10 --gpu-id 0 $mp --json "$OUT/gpu_throughput${mp:+_mixed}.json" \
    >> "$OUT/gpu.log" 2>&1
done
wait $acc
tar czf "$OUT/accuracy_runs.tgz" .gpu/accuracy/logs .gpu/accuracy/*/report 2>/dev/null
