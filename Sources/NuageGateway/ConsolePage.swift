/// The console's page: HTML, CSS and script in one response, nothing fetched from elsewhere
/// (the gateway may have no internet). The script reads `api/state` every 2 seconds.
enum ConsolePage {
    static let signIn = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nuage console: sign in</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>body{font:15px system-ui,sans-serif;background:#f4f6f8;color:#1d2630;display:flex;justify-content:center;margin-top:12vh}
        form{background:#fff;padding:28px 32px;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:320px}
        h1{font-size:20px;margin:0 0 16px}label{display:block;margin:10px 0 4px;font-weight:600}
        input{width:100%;box-sizing:border-box;padding:8px;border:1px solid #b8c2cc;border-radius:4px;font:inherit}
        button{margin-top:18px;padding:8px 18px;border:0;border-radius:4px;background:#1f5fa8;color:#fff;font:inherit;cursor:pointer}
        .error{color:#b3261e;margin-top:12px}</style></head><body>
        <form method="post" action="/console/sign-in"><h1>Nuage console</h1>
        <p>Sign in with an access key of this gateway.</p>
        <label for="id">Access key id</label><input id="id" name="id" autocomplete="username" required>
        <label for="secret">Secret key</label><input id="secret" name="secret" type="password" autocomplete="current-password" required>
        <button id="sign-in" type="submit">Sign in</button>{{error}}</form></body></html>
        """

    static let console = """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nuage console</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:14px system-ui,sans-serif;background:#f4f6f8;color:#1d2630;margin:0}
        header{background:#16324f;color:#fff;padding:10px 20px;display:flex;align-items:center;gap:16px}
        header h1{font-size:18px;margin:0;flex:1}header form{margin:0}header button{background:none;border:1px solid #fff8;color:#fff;border-radius:4px;padding:4px 10px;cursor:pointer}
        main{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px;padding:16px 20px}
        section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:12px 16px}
        h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 6px;border-bottom:1px solid #e3e8ee}
        th{font-weight:600;color:#52606d}.num{text-align:right;font-variant-numeric:tabular-nums}
        .healthy{color:#1b7f3b}.degraded{color:#a86400}.down{color:#b3261e;font-weight:700}.never{color:#777}
        .pass{color:#1b7f3b}.fail{color:#b3261e;font-weight:700}.figures{display:flex;gap:12px;flex-wrap:wrap}
        .figure{background:#eef2f6;border-radius:6px;padding:8px 12px;min-width:120px}.figure b{display:block;font-size:20px}
        svg{width:100%;height:auto;background:#dbe9f6;border-radius:6px}.land{fill:#c9d6c2;stroke:#a9b8a2;stroke-width:.6}
        .grid{stroke:#fff;stroke-width:.5;fill:none}.bar{height:10px;background:#1f5fa8;border-radius:3px}
        #updated{font-size:12px;color:#cfd8e3}
        </style></head><body>
        <header><h1>Nuage console</h1><span id="updated">loading…</span>
        <form method="post" action="/console/sign-out"><button type="submit">Sign out</button></form></header>
        <main>
        <section style="grid-column:1/-1"><h2>Providers on the map</h2><svg id="map" viewBox="0 0 720 360" role="img" aria-label="world map of providers"></svg></section>
        <section><h2>Providers</h2><table><thead><tr><th>name</th><th>location</th><th>operator</th><th>health</th><th class="num">read p90</th><th class="num">stored</th><th class="num">blobs</th></tr></thead><tbody id="providers"></tbody></table></section>
        <section><h2>Stored per jurisdiction</h2><table><thead><tr><th>where</th><th class="num">bytes</th><th class="num">objects</th><th class="num">≥k shards</th><th class="num">lost with it</th><th></th></tr></thead><tbody id="jurisdictions"></tbody></table>
        <p style="font-size:12px;color:#52606d">A provider counts for where it is and where its operator is; every byte is ciphertext.</p></section>
        <section><h2>Policy</h2><p id="policy"></p><table><tbody id="checks"></tbody></table></section>
        <section><h2>Redundancy and background work</h2><div class="figures">
        <div class="figure">objects<b id="objects">–</b></div><div class="figure">below full redundancy<b id="below">–</b></div>
        <div class="figure">shards pending repair<b id="repair">–</b></div><div class="figure">garbage waiting<b id="garbage">–</b></div>
        <div class="figure">crypto-shredded<b id="shredded">–</b></div></div><ul id="drains"></ul><ul id="scrubs"></ul></section>
        </main>
        <script>
        "use strict";
        const centroids = {US:[-98,39],CA:[-106,56],MX:[-102,23],BR:[-52,-10],AR:[-64,-34],CL:[-71,-35],GB:[-2,54],IE:[-8,53],FR:[2,46],DE:[10,51],
          NL:[5,52],BE:[4,50],CH:[8,47],AT:[14,47],IT:[12,43],ES:[-4,40],PT:[-8,39],SE:[15,62],NO:[9,61],FI:[26,64],DK:[10,56],PL:[19,52],
          CZ:[15,50],EE:[25,59],RU:[90,61],UA:[31,49],TR:[35,39],IL:[35,31],AE:[54,24],SA:[45,24],IN:[78,22],SG:[104,1],MY:[102,4],ID:[117,-2],
          TH:[101,15],VN:[106,16],CN:[104,35],HK:[114,22],MO:[113.5,22],TW:[121,24],KR:[128,36],KP:[127,40],JP:[138,37],AU:[134,-25],NZ:[172,-41],
          ZA:[24,-29],NG:[8,9],EG:[30,27],KE:[38,0],IR:[53,32],CU:[-79,22],VE:[-66,7],IS:[-19,65],LU:[6,50],GR:[22,39]};
        const land = [
          [[-168,66],[-140,70],[-95,72],[-80,63],[-60,60],[-55,50],[-67,44],[-76,35],[-81,25],[-97,26],[-105,20],[-95,16],[-83,9],[-78,8],[-90,14],[-105,22],[-115,30],[-124,40],[-124,48],[-135,58],[-150,60],[-165,60]],
          [[-78,8],[-60,10],[-50,0],[-35,-7],[-40,-22],[-57,-35],[-65,-42],[-70,-54],[-75,-48],[-71,-30],[-70,-18],[-81,-5],[-80,1]],
          [[-10,36],[-9,43],[-2,44],[-5,48],[2,51],[8,54],[10,58],[5,62],[15,69],[28,71],[40,68],[60,70],[80,73],[110,77],[140,72],[170,70],[180,66],[163,60],[142,53],[135,43],[127,35],[121,31],[119,23],[108,21],[105,10],[100,13],[98,8],[92,22],[80,15],[77,8],[72,20],[67,25],[57,25],[52,27],[48,30],[44,15],[36,30],[35,36],[27,37],[22,37],[15,38],[12,44],[5,43],[0,39],[-6,37]],
          [[-17,15],[-12,28],[-6,35],[10,37],[20,32],[32,31],[34,28],[43,12],[51,12],[40,-2],[40,-16],[33,-26],[27,-34],[18,-35],[12,-18],[13,-6],[9,4],[-8,4],[-15,10]],
          [[114,-22],[122,-18],[131,-12],[137,-12],[142,-10],[146,-19],[153,-26],[150,-37],[141,-38],[132,-32],[115,-34]],
          [[-8,50],[-3,50],[2,52],[-1,55],[-5,58],[-6,56]],[[130,31],[135,34],[141,41],[142,45],[140,36],[133,33]],
          [[-50,60],[-20,70],[-20,80],[-60,82],[-70,76],[-55,66]],[[167,-47],[174,-41],[178,-38],[172,-34],[170,-45]]];
        const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
        const size = n => { const u = ["B","KiB","MiB","GiB","TiB","PiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; };
        const xy = ([lon, lat]) => [(lon + 180) * 2, (90 - lat) * 2];
        function drawMap(providers) {
          let svg = "";
          for (let lon = -180; lon <= 180; lon += 30) svg += `<line class="grid" x1="${(lon+180)*2}" y1="0" x2="${(lon+180)*2}" y2="360"/>`;
          for (let lat = -60; lat <= 60; lat += 30) svg += `<line class="grid" x1="0" y1="${(90-lat)*2}" x2="720" y2="${(90-lat)*2}"/>`;
          for (const shape of land) svg += `<polygon class="land" points="${shape.map(p => xy(p).join(",")).join(" ")}"/>`;
          const seen = {};
          for (const p of providers) {
            const c = centroids[p.location]; if (!c) continue;
            const n = seen[p.location] = (seen[p.location] || 0) + 1;
            const [x, y] = xy(c); const dx = (n - 1) * 9;
            const colour = p.health === "down" ? "#b3261e" : p.health === "degraded" ? "#a86400" : p.excluded ? "#888" : "#1b7f3b";
            svg += `<g class="provider" data-name="${esc(p.name)}" data-health="${esc(p.health)}"><circle cx="${x+dx}" cy="${y}" r="6" fill="${colour}" stroke="#fff" stroke-width="1.5"><title>${esc(p.name)} (${esc(p.location)}, operated from ${esc(p.operatorJurisdiction)}): ${esc(p.health)}</title></circle>`
              + `<text x="${x+dx+8}" y="${y+4}" font-size="10" fill="#1d2630">${esc(p.name)}</text></g>`;
          }
          document.getElementById("map").innerHTML = svg;
        }
        function render(s) {
          drawMap(s.providers);
          document.getElementById("providers").innerHTML = s.providers.map(p =>
            `<tr data-provider="${esc(p.name)}"><td>${esc(p.name)}${p.excluded ? `<br><small>${esc(p.excluded)}</small>` : ""}</td><td>${esc(p.location)}</td>`
            + `<td>${esc(p.operatorName)} (${esc(p.operatorJurisdiction)})</td><td class="health ${esc(p.health.split(" ")[0])}">${esc(p.health)}</td>`
            + `<td class="num">${p.readLatencyMs == null ? "–" : p.readLatencyMs.toFixed(1) + " ms"}</td>`
            + `<td class="num stored" data-bytes="${p.storedBytes}">${size(p.storedBytes)}</td><td class="num blobs">${p.blobs}</td></tr>`).join("");
          const most = Math.max(1, ...s.jurisdictions.map(j => j.bytes));
          document.getElementById("jurisdictions").innerHTML = s.jurisdictions.map(j =>
            `<tr data-jurisdiction="${esc(j.code)}"><td>${esc(j.code)}</td><td class="num" data-bytes="${j.bytes}">${size(j.bytes)}</td><td class="num">${j.objects}</td>`
            + `<td class="num">${j.objectsWithKShards}</td><td class="num">${j.objectsLostWithIt}</td><td style="width:30%"><div class="bar" style="width:${(100*j.bytes/most).toFixed(1)}%"></div></td></tr>`).join("");
          document.getElementById("policy").textContent = s.policy;
          document.getElementById("checks").innerHTML = s.checks.map(c =>
            `<tr><td class="${c.passed ? "pass" : "fail"}">${c.passed ? "pass" : "FAIL"}</td><td>${esc(c.rule)}</td><td>${esc(c.detail)}</td></tr>`).join("");
          for (const [id, value] of [["objects", s.objects], ["below", s.objectsBelowFullRedundancy], ["repair", s.shardsPendingRepair],
                                     ["garbage", s.garbageBlobs], ["shredded", s.shreddedObjects]]) document.getElementById(id).textContent = value;
          document.getElementById("drains").innerHTML = s.drains.map(d => `<li>drain ${esc(d)}</li>`).join("");
          document.getElementById("scrubs").innerHTML = s.scrubs.map(d => `<li>${esc(d)}</li>`).join("");
          document.getElementById("updated").textContent = "updated " + new Date(s.generated).toLocaleTimeString()
            + (s.catalogRead ? ", catalog read " + new Date(s.catalogRead).toLocaleTimeString() : ", reading the catalog…");
        }
        async function refresh() {
          try {
            const response = await fetch("/console/api/state", {credentials: "same-origin", cache: "no-store"});
            if (response.status === 401) { location.href = "/console/sign-in"; return; }
            render(await response.json());
          } catch (e) { document.getElementById("updated").textContent = "gateway unreachable: " + e; }
        }
        refresh(); setInterval(refresh, 2000);
        </script></body></html>
        """
}
