#!/usr/bin/env sh
# Regenerates the greetings shipped with renvoi (committed: run only to change them):
# default.wav (French then English), fr.wav and en.wav (a number's chosen language).
# Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
# A greeting and the beep must last at most 4 s together (contract/voice.md): the
# bilingual one is about 3 s; the endpoint adds a 0.4 s beep.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trim="silence 1 0.02 1% reverse silence 1 0.02 1% reverse"
espeak-ng -v fr -s 200 -w "$tmp/fr.wav" "Laissez votre message après le bip."
espeak-ng -v en -s 200 -w "$tmp/en.wav" "Please leave a message after the tone."
sox "$tmp/fr.wav" "$tmp/fr-trim.wav" $trim
sox "$tmp/en.wav" "$tmp/en-trim.wav" $trim
sox "$tmp/fr-trim.wav" -p pad 0 0.25 | sox - "$tmp/en-trim.wav" -r 8000 -c 1 -b 16 default.wav norm -3
sox "$tmp/fr-trim.wav" -r 8000 -c 1 -b 16 fr.wav norm -3
sox "$tmp/en-trim.wav" -r 8000 -c 1 -b 16 en.wav norm -3
soxi -D default.wav fr.wav en.wav
