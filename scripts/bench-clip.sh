#!/usr/bin/env bash
# `make bench-clip`: what one 3 s motion clip of a 1080p30 stream costs (CPU seconds, the mean
# of 5 runs), with the pipeline's own ffmpeg arguments and with each lever that could cut it,
# so each lever's effect is shown apart. The input is the `make bench` file (1080p30 H.264
# High with B-frames, 1 s GOPs), made here if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
input=bench-out/input-1080p30.flv
if [ ! -f "$input" ]; then
  mkdir -p bench-out
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 -c:v libx264 -preset veryfast \
    -b:v 6M -maxrate 6M -bufsize 12M -g 30 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$input"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
graph="[0:v]trim=start=0:duration=3,setpts=PTS-STARTPTS,scale=w='min(480,iw)':h=-2:flags=fast_bilinear,split=2[m][w];[m]fps=15[mo];[w]fps=10[wo]"

# CPU seconds (user + system) of one ffmpeg run, the mean of 5.
cpu() {
  local total=0 t
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%U %S" -o "$out/time" ffmpeg -hide_banner -loglevel error -nostdin -y "$@"
    t=$(awk '{print $1 + $2}' "$out/time")
    total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
  done
  awk -v t="$total" 'BEGIN {printf "%.3f", t / 5}'
}

# A clip as the pipeline makes it: `$1` decoder options, `$2` x264 options, `$3` the WebP
# encoder (`libwebp_anim`, the animation encoder, or `libwebp`: each frame a still image,
# framed into the animation by the muxer).
clip() {
  # shellcheck disable=SC2086
  cpu $1 -ss 20 -t 3 -i "$input" -filter_complex "$graph" -an \
    -map "[mo]" -c:v libx264 -preset veryfast -crf 28 $2 -pix_fmt yuv420p -f mp4 "$out/c.mp4" \
    -map "[wo]" -c:v "$3" -loop 0 -quality 55 -compression_level 0 -f webp "$out/c.webp"
}

full=$(clip "-threads 1" "" libwebp_anim)
noref=$(clip "-threads 1 -skip_frame noref" "" libwebp_anim)
single=$(clip "-threads 1 -skip_frame noref" "-threads 1" libwebp_anim)
anim_kb=$(( $(stat -c %s "$out/c.webp") / 1024 ))
still=$(clip "-threads 1 -skip_frame noref" "-threads 1" libwebp)
still_kb=$(( $(stat -c %s "$out/c.webp") / 1024 ))
noloop=$(clip "-threads 1 -skip_frame noref -skip_loop_filter all" "-threads 1" libwebp_anim)
decode=$(cpu -threads 1 -skip_frame noref -ss 20 -t 3 -i "$input" -an -f null -)
# The WebP of a still scene with one small moving part (a camera on a stage, a talk), where
# the animation encoder sends only what changed and the stills send every whole frame.
still_scene() {
  ffmpeg -hide_banner -loglevel error -nostdin -y -f lavfi -i "smptehdbars=size=480x270:rate=10" \
    -f lavfi -i "testsrc2=size=96x96:rate=10" -t 3 \
    -filter_complex "[0][1]overlay=x='mod(t*80,380)':y=80,format=yuv420p" \
    -c:v "$1" -loop 0 -quality 55 -compression_level 0 -f webp "$out/s.webp"
  echo $(( $(stat -c %s "$out/s.webp") / 1024 ))
}
scene_anim_kb=$(still_scene libwebp_anim)
scene_still_kb=$(still_scene libwebp)
echo "one 3 s motion clip of 1080p30 (MP4 15 fps + animated WebP 10 fps, 480 px), CPU seconds:"
echo "  every frame decoded (one decoder thread):     $full"
echo "  frames nothing references skipped:            $noref"
echo "  + x264 on one thread (shipped):               $single (WebP $anim_kb KB)"
echo "  WebP frames as stills, muxed (not shipped):   $still (WebP $still_kb KB; of a still"
echo "    scene with one small moving part: $scene_still_kb KB against the animation encoder's $scene_anim_kb KB)"
echo "  shipped + no deblocking (visible loss, not shipped): $noloop"
echo "  of which the decode alone:                    $decode"
echo "bench-clip: full=$full noref=$noref x264_one_thread=$single webp_stills=$still no_deblock=$noloop decode_only=$decode"
