#!/usr/bin/env bash
# Prepare, on this machine, what benchmarks/gpu/run.sh carries to the GPU machine (Python 3.12,
# no network, no spaCy, transformers 5.x): DEST/site.tgz (wheels unpacked, debug symbols
# stripped: 73 MB of wheels -> ~38 MB), DEST/beto/{vocab.txt,config.json}, DEST/texts.json.
#   benchmarks/gpu/prepare.sh .gpu ../shared/beto/cased [N_TEXTS]
# DEST must be ignored by git (.gitignore or .git/info/exclude) and named in the run's carry.
set -eu
DEST=${1:?usage: prepare.sh DEST BETO_DIR [N_TEXTS]}
BETO=${2:?usage: prepare.sh DEST BETO_DIR [N_TEXTS]}
N=${3:-4000}
PY=${PYTHON:-python3}
mkdir -p "$DEST/beto" "$DEST/whl"
cp "$BETO/vocab.txt" "$BETO/config.json" "$DEST/beto/"
"$PY" benchmarks/speed.py --n-texts "$N" --texts-out "$DEST/texts.json"
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST/whl" \
  spacy==3.8.18 thinc==8.3.14 blis==1.3.4 cymem==2.0.16 preshed==3.0.15 murmurhash==1.0.16 \
  srsly==2.5.6 spacy-alignments==0.9.3 pydantic==2.14.4 pydantic-core==2.50.5 \
  annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 wasabi==1.1.3 \
  catalogue==2.0.10 confection==1.3.4 weasel==1.0.1 spacy-legacy==3.0.12 spacy-loggers==1.0.5 \
  cloudpathlib==0.26.0 smart-open==9.0.2 spacy-transformers==1.4.0 transformers==4.53.2 \
  tokenizers==0.21.4 huggingface-hub==0.36.2
tmp=$(mktemp -d)
mkdir "$tmp/site"
for w in "$DEST"/whl/*.whl; do "$PY" -m zipfile -e "$w" "$tmp/site/"; done
find "$tmp/site" -name '*.so*' -exec strip --strip-debug {} +
find "$tmp/site" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$tmp/site/spacy/tests" "$tmp/site/thinc/tests" "$tmp/site/srsly/tests"
tar -C "$tmp" -czf "$DEST/site.tgz" site
rm -rf "$tmp" "$DEST/whl"
du -sh "$DEST"/*
