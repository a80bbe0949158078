"""Other web pages against `edgecv serve`: a real uvicorn server on 127.0.0.1, real HTTP requests.

DNS rebinding (a foreign Host), cross-site POSTs (no CSRF token, a foreign Origin/Referer),
oversized bodies (refused by Content-Length without reading, chunked bodies counted), bad /train
bodies (422 naming the field; the status endpoint keeps answering), and `edgecv run`'s MJPEG sink.

    .venv/bin/python -m pytest -q tests/reliability/test_serve_security.py
"""
import argparse
import http.client
import socket
import time

import pytest

from edgecv.errors import EdgecvError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def srv(tmp_path, media):
    from edgecv.collect.app import Server
    from edgecv.commands import serve as cmd

    clip = media.write_video(tmp_path / "clip.avi", n=20, size=(64, 48))
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    cfg = cmd.config(p.parse_args(["--source", str(clip), "--port", "0", "--out", str(tmp_path / "d"),
                                   "--classes", "a,b", "--runs", str(tmp_path / "runs")]))
    state = cmd.build(cfg)
    server = Server(state, cfg.host, cfg.port)
    state.live.start()
    server.start()
    t_end = time.monotonic() + 10
    while state.live.frame() is None:
        assert time.monotonic() < t_end, "no frame from the clip"
        time.sleep(0.02)
    yield server
    server.stop()


def request(srv, method, path, body=b"", headers=None, host=None):
    """(status, headers, body) of one raw request; `host` replaces the Host header."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host != "":
        c.putheader("Host", host or f"127.0.0.1:{srv.port}")
    for k, v in (headers or {}).items():
        c.putheader(k, v)
    if body or method == "POST":
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body or None)
    r = c.getresponse()
    data = r.read(2000) if path != "/stream" or r.status != 200 else r.read(7)
    c.close()
    return r.status, dict(r.getheaders()), data


def saved(tmp_path):
    return list((tmp_path / "d").rglob("*.jpg"))


@pytest.mark.parametrize("host", ["evil.example:{port}", "attacker.test", "127.0.0.1:{other}", "localhost.evil:{port}",
                                  "", "127.0.0.1.nip.io:{port}", "0x7f.0.0.1.evil:{port}"])
def test_foreign_host_is_refused_on_every_route(srv, host):
    host = host.format(port=srv.port, other=srv.port + 1)
    for method, path in (("GET", "/"), ("GET", "/status"), ("GET", "/frame.jpg"), ("GET", "/stream"),
                         ("GET", "/session"), ("GET", "/nope"), ("POST", "/collect/undo")):
        code, _, body = request(srv, method, path, host=host)
        if not host:            # HTTP/1.1 without Host: the HTTP parser refuses it first
            assert code == 400, (method, path, code)
            continue
        assert code == 421, (method, path, host, code)
        assert b"DNS rebinding" in body


def test_local_names_are_accepted(srv):
    for host in (f"127.0.0.1:{srv.port}", f"localhost:{srv.port}", f"LOCALHOST:{srv.port}", f"[::1]:{srv.port}"):
        code, headers, body = request(srv, "GET", "/frame.jpg", host=host)
        assert code == 200 and body[:2] == b"\xff\xd8", host
        assert headers["x-frame-options"] == "DENY"
    code, _, page = request(srv, "GET", "/")
    assert code == 200 and srv.state.csrf.encode() in page


def test_cross_site_posts_are_refused(srv, tmp_path):
    good = {"X-Edgecv-CSRF": srv.state.csrf}
    me = f"http://127.0.0.1:{srv.port}"
    bad = [{}, {"X-Edgecv-CSRF": "guess"}, {"Origin": "https://evil.example"},
           {**good, "Origin": "https://evil.example"}, {**good, "Origin": "null"},
           {**good, "Referer": "https://evil.example/page"}, {**good, "Origin": f"http://127.0.0.1:{srv.port + 1}"},
           {**good, "Origin": f"{me}.evil.example"}, {"Origin": me}]
    for path, body in (("/collect/class", b'{"class": "a"}'), ("/collect/undo", b""), ("/train", b'{"epochs": 1}'),
                       ("/model", b'{"path": "x.onnx"}'), ("/train/stop", b"")):
        for headers in bad:
            code, _, text = request(srv, "POST", path, body, headers)
            assert code == 403, (path, headers, code, text)
    for method in ("PUT", "DELETE", "PATCH"):
        assert request(srv, method, "/collect/undo", b"", {})[0] == 403
    assert not saved(tmp_path) and not (tmp_path / "runs").exists()
    for headers in (good, {**good, "Origin": me}, {**good, "Referer": me + "/"}):   # the page, and curl
        code, _, text = request(srv, "POST", "/collect/class", b'{"class": "a"}', headers)
        assert code == 200, (headers, text)
    assert len(saved(tmp_path)) == 3
    code, _, text = request(srv, "GET", "/session")
    assert code == 200 and srv.state.csrf in text.decode()


def test_oversized_bodies_are_refused_before_reading(srv, tmp_path):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(f"POST /collect/class HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: application/json\r\n"
                  f"X-Edgecv-CSRF: {srv.state.csrf}\r\nContent-Length: 209715200\r\n\r\n".encode())
        answer = s.recv(4096)       # answered without a byte of the 200 MB body
        assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - t0 < 5, answer
    for length in ("-1", "12abc", str(1 << 20)):
        assert request(srv, "POST", "/collect/undo", b"", {"Content-Length": length})[0] in (400, 413)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"POST /collect/class HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nTransfer-Encoding: chunked\r\n"
                  f"X-Edgecv-CSRF: {srv.state.csrf}\r\nContent-Type: application/json\r\n\r\n".encode())
        chunk = b"x" * 16384
        answer = b""
        try:
            for _ in range(40):      # 640 kB in chunks, more than the 64 kB limit
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer
    assert not saved(tmp_path)


@pytest.mark.parametrize("body, field", [(b'{"lr": "nan"}', "lr"), (b'{"lr": "inf"}', "lr"), (b'{"lr": -0.1}', "lr"),
                                         (b'{"lr": 0}', "lr"), (b'{"lr": "fast"}', "lr"), (b'{"epochs": true}', "epochs"),
                                         (b'{"epochs": 2.5}', "epochs"), (b'{"epochs": -3}', "epochs"),
                                         (b'{"batch": "1e9"}', "batch"), (b'{"imgsz": [32]}', "imgsz"),
                                         (b'{"seed": -1}', "seed"), (b'{"freeze": "all"}', "freeze"),
                                         (b'{"pretrained": 3}', "pretrained"), (b'[1, 2]', "")])
def test_train_body_is_validated_with_the_field_name(srv, body, field):
    code, _, text = request(srv, "POST", "/train", body, {"X-Edgecv-CSRF": srv.state.csrf})
    assert code == 422, (body, code, text)
    assert field.encode() in text
    code, _, status = request(srv, "GET", "/train/status")
    assert code == 200 and b'"state":"idle"' in status


def test_run_mjpeg_sink_refuses_a_foreign_host():
    from edgecv.runtime.sinks import MjpegSink
    from edgecv.runtime.uri import parse_output

    sink = MjpegSink(parse_output("http://127.0.0.1:0"))
    try:
        port = int(sink.url.split(":")[2].split("/")[0])
        for host, want in ((f"evil.example:{port}", 421), (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200)):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.putrequest("GET", "/", skip_host=True)
            c.putheader("Host", host)
            c.endheaders()
            assert c.getresponse().status == want, host
            c.close()
    finally:
        sink.close()


@pytest.mark.parametrize("port", [99999, 65536, -1])
def test_out_of_range_ports_are_refused(port):
    from edgecv.collect.app import bind

    with pytest.raises(EdgecvError, match="out of range"):
        bind("127.0.0.1", port)
