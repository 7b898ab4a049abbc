"""Cold start of the sluice binary as Lambda runs it: the time from process start to its first
GET /runtime/invocation/next, with a real config loaded, against a minimal Runtime API on
127.0.0.1. The binary is copied into a package folder as `bootstrap` next to `sluice.json`.

    cargo build --release -p sluice
    target/release/sluice build configs/ecs/cloudtrail.jsonnet > /tmp/cloudtrail.json
    python3 deploy/coldstart.py target/release/sluice /tmp/cloudtrail.json 30
"""
import http.server, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time

binary, config, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = {"first": None, "event": threading.Event()}

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if state["first"] is None:
            state["first"] = time.perf_counter()
            state["event"].set()
        time.sleep(5)
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
pkg = tempfile.mkdtemp()
shutil.copy(binary, os.path.join(pkg, "bootstrap"))
shutil.copy(config, os.path.join(pkg, "sluice.json"))
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API="127.0.0.1:%d" % srv.server_address[1],
           AWS_LAMBDA_FUNCTION_NAME="coldstart", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024",
           AWS_LAMBDA_FUNCTION_VERSION="1", LAMBDA_TASK_ROOT=pkg, SLUICE_CONFIG="sluice.json")
walls, inits = [], []
for i in range(runs):
    state["first"], state["event"] = None, threading.Event()
    t0 = time.perf_counter()
    p = subprocess.Popen([os.path.join(pkg, "bootstrap")], env=env, cwd=pkg,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert state["event"].wait(30), "no next request"
    walls.append((state["first"] - t0) * 1000)
    p.kill()
    err = p.communicate()[1].decode()
    for line in err.splitlines():
        if '"init_ms"' in line:
            inits.append(json.loads(line)["init_ms"])
q = lambda xs: "median %.1f ms, min %.1f, max %.1f" % (statistics.median(xs), min(xs), max(xs))
print("process start -> first next: %s (%d runs)" % (q(walls), runs))
print("init as logged by the binary (config load + build): %s" % q(inits))
print("binary: %d bytes; config: %d bytes" % (os.path.getsize(binary), os.path.getsize(config)))
shutil.rmtree(pkg)
