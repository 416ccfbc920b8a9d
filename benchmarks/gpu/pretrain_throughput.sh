#!/usr/bin/env bash
# Pretraining throughput of the BERT-base shape (BETO's vocabulary, random weights) on a lent
# GPU: whole-word-masking MLM, 128-piece sequences, batch 32, bf16 autocast and fp32.
# Carried in .gpu/ (never committed): py3.12 wheels, BETO's vocab.txt, pretrain.txt (the text of
# the ../shared training splits, one document per line).
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -m spacy_beto build-mini --vocab .gpu/vocab.txt --layers 12 --hidden 768 --heads 12 \
  --output /tmp/beto-shaped > "$OUT/pretrain_gpu.log" 2>&1
for prec in --bf16 ""; do
  echo "== pretrain ${prec:-fp32}" >> "$OUT/pretrain_gpu.log"
  python3 -m spacy_beto pretrain .gpu/pretrain.txt --init /tmp/beto-shaped \
    --output "/tmp/pt${prec}" --max-steps "${STEPS:-120}" --batch-size 32 --max-length 128 \
    --gpu-id 0 $prec --log-every 20 --eval-every 100000 --checkpoint-every 100000 \
    >> "$OUT/pretrain_gpu.log" 2>&1
done
