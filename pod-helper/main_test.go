package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The query every URL of the fake S3 carries, as a presigned URL does; no message may show it.
const signature = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIATEST&X-Amz-Signature=deadbeefsecret"

type upload struct {
	body             []byte
	contentLength    int64
	transferEncoding []string
}

// fakeS3 serves GETs of objects and takes PUTs, at /bucket/KEY?<signature> only.
type fakeS3 struct {
	*httptest.Server
	mu       sync.Mutex
	objects  map[string][]byte
	uploads  map[string]upload
	gets     map[string]int
	failures map[string]int  // how many 503s a key answers before it works
	status   map[string]int  // a fixed status for a key
	chunked  map[string]bool // GET without a Content-Length
	stall    map[string]bool // GET sends half the object, then nothing
}

func newFakeS3(t *testing.T) *fakeS3 {
	s := &fakeS3{
		objects:  map[string][]byte{},
		uploads:  map[string]upload{},
		gets:     map[string]int{},
		failures: map[string]int{},
		status:   map[string]int{},
		chunked:  map[string]bool{},
		stall:    map[string]bool{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeS3) url(key string) string { return s.URL + "/bucket/" + key + "?" + signature }

func (s *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/bucket/")
	if !ok || r.URL.RawQuery != signature {
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	if r.Method == http.MethodGet {
		s.gets[key]++
	}
	failing := s.failures[key] > 0
	if failing {
		s.failures[key]--
	}
	status, object, exists := s.status[key], s.objects[key], false
	_, exists = s.objects[key]
	chunked, stall := s.chunked[key], s.stall[key]
	s.mu.Unlock()
	switch {
	case failing:
		http.Error(w, "SlowDown", http.StatusServiceUnavailable)
		return
	case status != 0:
		http.Error(w, "status", status)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			http.Error(w, "NoSuchKey", http.StatusNotFound)
			return
		}
		if stall {
			w.Header().Set("Content-Length", fmt.Sprint(len(object)))
			_, _ = w.Write(object[:len(object)/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		if chunked {
			_, _ = w.Write(object[:1])
			w.(http.Flusher).Flush()
			_, _ = w.Write(object[1:])
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(object)))
		_, _ = w.Write(object)
	case http.MethodPut:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.uploads[key] = upload{body: body, contentLength: r.ContentLength, transferEncoding: r.TransferEncoding}
		s.mu.Unlock()
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

func (s *fakeS3) upload(key string) (upload, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[key]
	return u, ok
}

func (s *fakeS3) uploadKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for key := range s.uploads {
		keys = append(keys, key)
	}
	return keys
}

type podEnv struct {
	root, workspace, bin, secret string
	s3                           *fakeS3
	log                          *bytes.Buffer
}

// setup makes a pod layout under a temporary MLPIPE_POD_ROOT, a fake S3, fast retries, and
// captures the helper's messages (checked for signatures when the test ends).
func setup(t *testing.T) *podEnv {
	root := t.TempDir()
	t.Setenv("MLPIPE_POD_ROOT", root)
	env := &podEnv{
		root:      root,
		workspace: filepath.Join(root, "workspace"),
		bin:       filepath.Join(root, "mlpipe", "bin"),
		secret:    filepath.Join(root, "mlpipe", "secret"),
		s3:        newFakeS3(t),
		log:       &bytes.Buffer{},
	}
	for _, dir := range []string{env.workspace, env.bin, env.secret} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	saved := struct {
		backoff                    []time.Duration
		stall                      time.Duration
		manifestBytes, outputBytes int64
		outputEntries              int
		log                        io.Writer
	}{retryBackoff, stallTimeout, maxManifestBytes, maxOutputBytes, maxOutputEntries, logOut}
	retryBackoff = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	stallTimeout = 5 * time.Second
	logOut = env.log
	t.Cleanup(func() {
		retryBackoff, stallTimeout, logOut = saved.backoff, saved.stall, saved.log
		maxManifestBytes, maxOutputBytes, maxOutputEntries = saved.manifestBytes, saved.outputBytes, saved.outputEntries
		assertNoSecret(t, "the helper's messages", env.log.String())
	})
	return env
}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, secret := range []string{"deadbeef", "X-Amz", "AKIATEST", "?X", "http://", "/bucket/"} {
		if strings.Contains(text, secret) {
			t.Errorf("%s show %q: %s", what, secret, text)
		}
	}
}

func sum(data []byte) string {
	digest := sha256.Sum256(data)
	return hex.EncodeToString(digest[:])
}

// inputFor stores data in the fake S3 under key and returns the manifest's entry for it.
func (e *podEnv) inputFor(path string, data []byte, mode *int64) map[string]any {
	key := "in/" + path
	e.s3.mu.Lock()
	e.s3.objects[key] = data
	e.s3.mu.Unlock()
	entry := map[string]any{"path": path, "url": e.s3.url(key), "sha256": sum(data), "size": len(data)}
	if mode != nil {
		entry["mode"] = *mode
	}
	return entry
}

// serveManifest stores the manifest (a value or raw bytes) and points the secret at it.
func (e *podEnv) serveManifest(t *testing.T, m any) []byte {
	raw, ok := m.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	e.s3.mu.Lock()
	e.s3.objects["manifest.json"] = raw
	e.s3.mu.Unlock()
	if err := os.WriteFile(filepath.Join(e.secret, "manifest-url"), []byte(e.s3.url("manifest.json")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *podEnv) manifest(inputs []map[string]any, outputs []string, dirs ...string) map[string]any {
	outs := []map[string]any{}
	for _, path := range outputs {
		outs = append(outs, map[string]any{"path": path, "url": e.s3.url("out/" + path)})
	}
	if inputs == nil {
		inputs = []map[string]any{}
	}
	if dirs == nil {
		dirs = []string{}
	}
	return map[string]any{
		"version": 1, "workspace": "/workspace", "dirs": dirs,
		"inputs": inputs, "outputs": outs, "report": e.s3.url("report.json"),
	}
}

// fetchErr runs fetch, expects it to fail, and checks the message.
func fetchErr(t *testing.T, want ...string) string {
	t.Helper()
	err := fetch(context.Background())
	if err == nil {
		t.Fatalf("fetch succeeded; want an error with %q", want)
	}
	message := line(err)
	assertNoSecret(t, "the error", err.Error())
	if strings.Contains(message, "\n") || !strings.HasPrefix(message, "mlpipe-pod: ") {
		t.Errorf("not one prefixed line: %q", message)
	}
	for _, part := range want {
		if !strings.Contains(message, part) {
			t.Errorf("error %q does not say %q", message, part)
		}
	}
	return message
}

func mode(value int64) *int64 { return &value }

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode()
}

// ---------------------------------------------------------------------------------------------
// fetch

func TestFetch(t *testing.T) {
	e := setup(t)
	train := []byte("a,b\n1,2\n")
	readme := bytes.Repeat([]byte("readme "), 100_000)
	raw := e.serveManifest(t, e.manifest([]map[string]any{
		e.inputFor("data/train.csv", train, mode(0o600)),
		e.inputFor("readme.txt", readme, nil),
		e.inputFor("deep/a/b/c/empty", nil, mode(0o104755)),
	}, []string{"models/model.npz"}, "models", "out/logs"))
	if err := fetch(context.Background()); err != nil {
		t.Fatal(line(err))
	}
	for path, want := range map[string][]byte{"data/train.csv": train, "readme.txt": readme, "deep/a/b/c/empty": {}} {
		got, err := os.ReadFile(filepath.Join(e.workspace, path))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", path, len(got), err)
		}
	}
	for path, want := range map[string]os.FileMode{"data/train.csv": 0o600, "readme.txt": 0o644, "deep/a/b/c/empty": 0o755} {
		if got := fileMode(t, filepath.Join(e.workspace, path)); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
	for _, dir := range []string{"models", "out/logs"} {
		if !fileMode(t, filepath.Join(e.workspace, dir)).IsDir() {
			t.Errorf("%s is not a folder", dir)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(e.bin, "manifest.json")); !bytes.Equal(got, raw) {
		t.Errorf("manifest.json differs from the manifest served")
	}
	if got := fileMode(t, filepath.Join(e.bin, "manifest.json")); got != 0o444 {
		t.Errorf("manifest.json mode %v", got)
	}
	self, _ := os.Stat("/proc/self/exe")
	installed, err := os.Stat(filepath.Join(e.bin, "mlpipe-pod"))
	if err != nil || installed.Mode() != 0o555 || installed.Size() != self.Size() {
		t.Errorf("the helper was not installed as a copy of itself with mode 0555: %v %v", installed, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(e.workspace, "*", ".mlpipe-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	want := regexp.MustCompile(`^mlpipe-pod: fetched 3 files \(700008 bytes\) in \d+\.\d s\n$`)
	if !want.MatchString(e.log.String()) {
		t.Errorf("progress line %q", e.log.String())
	}
}

func TestFetchRetriesServerErrors(t *testing.T) {
	e := setup(t)
	e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("a.txt", []byte("a"), nil)}, nil))
	e.s3.failures["manifest.json"] = 1
	e.s3.failures["in/a.txt"] = 3
	if err := fetch(context.Background()); err != nil {
		t.Fatal(line(err))
	}
	if e.s3.gets["in/a.txt"] != 4 {
		t.Errorf("%d GETs, want 4", e.s3.gets["in/a.txt"])
	}
}

func TestFetchGivesUpAfterThreeRetries(t *testing.T) {
	e := setup(t)
	e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("a.txt", []byte("a"), nil)}, nil))
	e.s3.failures["in/a.txt"] = 100
	fetchErr(t, `input "a.txt"`, "HTTP status 503", "after 4 attempts")
	if _, err := os.Lstat(filepath.Join(e.bin, "manifest.json")); err == nil {
		t.Error("manifest.json written though the fetch failed")
	}
}

func TestFetchRefusesWrongDigest(t *testing.T) {
	e := setup(t)
	entry := e.inputFor("data/train.csv", []byte("good"), nil)
	e.s3.objects["in/data/train.csv"] = []byte("evil")
	e.serveManifest(t, e.manifest([]map[string]any{entry}, nil))
	fetchErr(t, `input "data/train.csv"`, "sha256 mismatch")
	if _, err := os.Lstat(filepath.Join(e.workspace, "data", "train.csv")); err == nil {
		t.Error("the file was put in place")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(e.workspace, "data", ".mlpipe-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestFetchRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"../x", "a/../../x", "/etc/x", "a//b", "./a", "a/.", "a/", "", "a\x00b", strings.Repeat("a", 4097)} {
		t.Run(fmt.Sprintf("%.20q", path), func(t *testing.T) {
			e := setup(t)
			entry := e.inputFor("x", []byte("x"), nil)
			entry["path"] = path
			e.serveManifest(t, e.manifest([]map[string]any{entry}, nil))
			fetchErr(t, "manifest: input")
			for _, escaped := range []string{filepath.Join(e.root, "x"), filepath.Join(e.workspace, "x")} {
				if _, err := os.Lstat(escaped); err == nil {
					t.Errorf("%s was written", escaped)
				}
			}
		})
	}
	t.Run("dir", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, e.manifest(nil, nil, "../out"))
		fetchErr(t, `manifest: dir "../out"`)
	})
	t.Run("output", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, e.manifest(nil, []string{"/etc"}))
		fetchErr(t, `manifest: output "/etc"`)
	})
}

func TestFetchRefusesBadManifests(t *testing.T) {
	cases := map[string]func(e *podEnv, m map[string]any){
		"version 2":     func(_ *podEnv, m map[string]any) { m["version"] = 2 },
		"relative ws":   func(_ *podEnv, m map[string]any) { m["workspace"] = "workspace" },
		"unclean ws":    func(_ *podEnv, m map[string]any) { m["workspace"] = "/workspace/../etc" },
		"no report":     func(_ *podEnv, m map[string]any) { delete(m, "report") },
		"file URL":      func(_ *podEnv, m map[string]any) { m["report"] = "file:///etc/passwd" },
		"no size":       func(e *podEnv, m map[string]any) { delete(m["inputs"].([]map[string]any)[0], "size") },
		"negative size": func(e *podEnv, m map[string]any) { m["inputs"].([]map[string]any)[0]["size"] = -1 },
		"huge size":     func(e *podEnv, m map[string]any) { m["inputs"].([]map[string]any)[0]["size"] = int64(1<<40) + 1 },
		"negative mode": func(e *podEnv, m map[string]any) { m["inputs"].([]map[string]any)[0]["mode"] = -1 },
		"short sha256":  func(e *podEnv, m map[string]any) { m["inputs"].([]map[string]any)[0]["sha256"] = "abc" },
		"listed twice": func(e *podEnv, m map[string]any) {
			m["inputs"] = append(m["inputs"].([]map[string]any), m["inputs"].([]map[string]any)[0])
		},
		"too many outputs": func(e *podEnv, m map[string]any) { m["outputs"] = make([]map[string]any, 10_001) },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := setup(t)
			m := e.manifest([]map[string]any{e.inputFor("a", []byte("a"), nil)}, nil)
			change(e, m)
			e.serveManifest(t, m)
			fetchErr(t, "manifest: ")
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, []byte(`{"version":1,`))
		fetchErr(t, "manifest: not valid JSON")
	})
	t.Run("trailing data", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, []byte(`{"version":1} {}`))
		fetchErr(t, "manifest: data after")
	})
}

func TestFetchRefusesSymlinksOnTheWay(t *testing.T) {
	t.Run("input folder", func(t *testing.T) {
		e := setup(t)
		outside := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(e.workspace, "data")); err != nil {
			t.Fatal(err)
		}
		e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("data/train.csv", []byte("x"), nil)}, nil))
		fetchErr(t, `input "data/train.csv"`, `"data" is a symbolic link`)
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("wrote through the link: %v", entries)
		}
	})
	t.Run("deeper folder", func(t *testing.T) {
		e := setup(t)
		outside := t.TempDir()
		if err := os.MkdirAll(filepath.Join(e.workspace, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(e.workspace, "a", "b", "c")); err != nil {
			t.Fatal(err)
		}
		e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("a/b/c/d/e", []byte("x"), nil)}, nil))
		fetchErr(t, `"a/b/c" is a symbolic link`)
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("wrote through the link: %v", entries)
		}
	})
	t.Run("dirs", func(t *testing.T) {
		e := setup(t)
		outside := t.TempDir()
		if err := os.Symlink(outside, filepath.Join(e.workspace, "out")); err != nil {
			t.Fatal(err)
		}
		e.serveManifest(t, e.manifest(nil, nil, "out/logs"))
		fetchErr(t, `dir "out/logs"`, `"out" is a symbolic link`)
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("made a folder through the link: %v", entries)
		}
	})
	t.Run("a file in the way", func(t *testing.T) {
		e := setup(t)
		if err := os.WriteFile(filepath.Join(e.workspace, "data"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("data/train.csv", []byte("x"), nil)}, nil))
		fetchErr(t, `"data" is a regular file, not a folder`)
	})
	t.Run("the file itself is replaced, not followed", func(t *testing.T) {
		e := setup(t)
		outside := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(e.workspace, "train.csv")); err != nil {
			t.Fatal(err)
		}
		e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("train.csv", []byte("new"), nil)}, nil))
		if err := fetch(context.Background()); err != nil {
			t.Fatal(line(err))
		}
		if got, _ := os.ReadFile(outside); string(got) != "untouched" {
			t.Errorf("wrote through the link: %q", got)
		}
		if !fileMode(t, filepath.Join(e.workspace, "train.csv")).IsRegular() {
			t.Error("the link is still there")
		}
	})
}

func TestFetchBoundsSizes(t *testing.T) {
	t.Run("Content-Length disagrees", func(t *testing.T) {
		e := setup(t)
		entry := e.inputFor("a", []byte("abc"), nil)
		e.s3.objects["in/a"] = []byte("abcdef")
		e.serveManifest(t, e.manifest([]map[string]any{entry}, nil))
		fetchErr(t, `input "a"`, "the server has 6 bytes; the manifest says 3")
	})
	t.Run("more bytes than declared, no Content-Length", func(t *testing.T) {
		e := setup(t)
		entry := e.inputFor("a", []byte("abc"), nil)
		e.s3.objects["in/a"] = bytes.Repeat([]byte("x"), 1<<20)
		e.s3.chunked["in/a"] = true
		e.serveManifest(t, e.manifest([]map[string]any{entry}, nil))
		fetchErr(t, `input "a"`, "sent more than 3 bytes")
	})
	t.Run("fewer bytes than declared", func(t *testing.T) {
		e := setup(t)
		entry := e.inputFor("a", []byte("abcdef"), nil)
		e.s3.objects["in/a"] = []byte("abc")
		e.s3.chunked["in/a"] = true
		e.serveManifest(t, e.manifest([]map[string]any{entry}, nil))
		fetchErr(t, `input "a"`, "sent 3 bytes; the manifest says 6")
	})
	t.Run("manifest too large", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("a", []byte("abc"), nil)}, nil))
		maxManifestBytes = 100
		fetchErr(t, "cannot get the manifest", "larger than 100 bytes")
	})
	t.Run("manifest URL file too large", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, e.manifest(nil, nil))
		if err := os.WriteFile(filepath.Join(e.secret, "manifest-url"), bytes.Repeat([]byte(" "), 65<<10), 0o644); err != nil {
			t.Fatal(err)
		}
		fetchErr(t, "the manifest URL file is larger than 65536 bytes")
	})
	t.Run("manifest URL file empty", func(t *testing.T) {
		e := setup(t)
		if err := os.WriteFile(filepath.Join(e.secret, "manifest-url"), []byte("\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fetchErr(t, "the manifest URL file has no URL")
	})
}

func TestFetchStall(t *testing.T) {
	e := setup(t)
	stallTimeout = 300 * time.Millisecond
	e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("big", bytes.Repeat([]byte("x"), 4096), nil)}, nil))
	e.s3.stall["in/big"] = true
	started := time.Now()
	fetchErr(t, `input "big"`, "stalled")
	if elapsed := time.Since(started); elapsed > 5*time.Second {
		t.Errorf("took %v to notice the stall", elapsed)
	}
}

func TestFetchHTTPErrors(t *testing.T) {
	e := setup(t)
	e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("a", []byte("a"), nil)}, nil))
	e.s3.status["in/a"] = http.StatusForbidden
	fetchErr(t, `input "a"`, "HTTP status 403", "expired")
	if e.s3.gets["in/a"] != 1 {
		t.Errorf("a 403 was retried (%d GETs)", e.s3.gets["in/a"])
	}
}

func TestNoMessageShowsTheURL(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		e := setup(t)
		e.serveManifest(t, e.manifest(nil, nil))
		e.s3.Close()
		fetchErr(t, "cannot get the manifest", "connection refused")
	})
	t.Run("input server gone", func(t *testing.T) {
		e := setup(t)
		m := e.manifest([]map[string]any{e.inputFor("a", []byte("a"), nil)}, nil)
		m["inputs"].([]map[string]any)[0]["url"] = "http://127.0.0.1:1/bucket/a?" + signature
		e.serveManifest(t, m)
		fetchErr(t, `input "a"`)
	})
	t.Run("redact", func(t *testing.T) {
		message := line(errors.New(`Get "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc": EOF` + "\nsecond X-Amz-Credential=AKIATEST/x"))
		assertNoSecret(t, "redact", message)
		if strings.Contains(message, "\n") {
			t.Errorf("two lines: %q", message)
		}
	})
}

// ---------------------------------------------------------------------------------------------
// run

// prepareRun writes the manifest the run step reads, as fetch leaves it.
func (e *podEnv) prepareRun(t *testing.T, outputs ...string) {
	raw, err := json.Marshal(e.manifest(nil, outputs))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bin, "manifest.json"), raw, 0o444); err != nil {
		t.Fatal(err)
	}
}

// shell runs a script in the workspace, through the helper.
func (e *podEnv) shell(script string) int {
	return run(context.Background(), []string{"sh", "-c", `cd "$1" && ` + script, "sh", e.workspace})
}

type tarEntry struct {
	name     string
	typeflag byte
	mode     int64
	body     string
}

func readTar(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	var entries []tarEntry
	reader := tar.NewReader(bytes.NewReader(data))
	for {
		header, err := reader.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(reader)
		entries = append(entries, tarEntry{header.Name, header.Typeflag, header.Mode, string(body)})
	}
}

func (e *podEnv) report(t *testing.T) (runReport, string) {
	t.Helper()
	u, ok := e.s3.upload("report.json")
	if !ok {
		t.Fatal("no report was sent")
	}
	var r runReport
	if err := json.Unmarshal(u.body, &r); err != nil {
		t.Fatal(err)
	}
	return r, string(u.body)
}

func TestRunPacksOutputs(t *testing.T) {
	e := setup(t)
	e.prepareRun(t, "models/model.npz", "out", "x", "out/empty", "nested/missing/y")
	code := e.shell(`mkdir -p models out/sub out/empty && printf model > models/model.npz &&
		printf a > out/a.txt && printf b > out/sub/b.txt && chmod 600 out/a.txt && chmod 750 out/sub`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e.log)
	}
	model, ok := e.s3.upload("out/models/model.npz")
	if !ok {
		t.Fatal("models/model.npz not uploaded")
	}
	if got := readTar(t, model.body); !reflect.DeepEqual(got, []tarEntry{{"model.npz", tar.TypeReg, 0o644, "model"}}) {
		t.Errorf("model.npz's tar: %v", got)
	}
	out, _ := e.s3.upload("out/out")
	want := []tarEntry{
		{"out/", tar.TypeDir, 0o755, ""},
		{"out/a.txt", tar.TypeReg, 0o600, "a"},
		{"out/empty/", tar.TypeDir, 0o755, ""},
		{"out/sub/", tar.TypeDir, 0o750, ""},
		{"out/sub/b.txt", tar.TypeReg, 0o644, "b"},
	}
	if got := readTar(t, out.body); !reflect.DeepEqual(got, want) {
		t.Errorf("out's tar:\n%v\nwant\n%v", got, want)
	}
	for _, key := range []string{"out/models/model.npz", "out/out", "out/out/empty", "report.json"} {
		u, _ := e.s3.upload(key)
		if u.contentLength != int64(len(u.body)) || len(u.transferEncoding) != 0 {
			t.Errorf("%s: Content-Length %d for %d bytes, Transfer-Encoding %v", key, u.contentLength, len(u.body), u.transferEncoding)
		}
	}
	if _, ok := e.s3.upload("out/x"); ok {
		t.Error("an absent output was uploaded")
	}
	r, raw := e.report(t)
	wantReport := `{"version":1,"exitCode":0,"outputs":[` +
		`{"path":"models/model.npz","present":true,"files":{"":"sha256:` + sum([]byte("model")) + `"}},` +
		`{"path":"out","present":true,"files":{"a.txt":"sha256:` + sum([]byte("a")) + `","sub/b.txt":"sha256:` + sum([]byte("b")) + `"}},` +
		`{"path":"x","present":false},` +
		`{"path":"out/empty","present":true,"files":{}},` +
		`{"path":"nested/missing/y","present":false}]}`
	if raw != wantReport {
		t.Errorf("report\n%s\nwant\n%s", raw, wantReport)
	}
	if r.Version != 1 || len(r.Outputs) != 5 {
		t.Errorf("report %+v", r)
	}
	if !regexp.MustCompile(`mlpipe-pod: uploaded 3 outputs \(\d+ bytes\) in \d+\.\d s\n$`).MatchString(e.log.String()) {
		t.Errorf("progress line %q", e.log.String())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(e.bin, ".mlpipe-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRunRefusesLinksAndSpecialFiles(t *testing.T) {
	cases := map[string]struct{ outputs, script, want string }{
		"symlink inside":      {"out", `mkdir -p out/sub && printf a > out/a && ln -s /etc/passwd out/sub/link`, `output "out": "sub/link" is a symbolic link`},
		"dangling symlink":    {"out", `mkdir -p out && ln -s nowhere out/link`, `"link" is a symbolic link`},
		"output is a symlink": {"model", `mkdir -p real && printf a > real/m && ln -s real model`, `output "model": it is a symbolic link`},
		"symlink on the way":  {"models/m", `mkdir -p real && printf a > real/m && ln -s real models`, `output "models/m": "models" is a symbolic link`},
		"fifo":                {"out", `mkdir -p out && mkfifo out/pipe`, `"pipe" is a FIFO`},
		"link to a folder":    {"out", `mkdir -p out elsewhere && ln -s ../elsewhere out/dir`, `"dir" is a symbolic link`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := setup(t)
			e.prepareRun(t, c.outputs)
			if code := e.shell(c.script); code != exitUploadFailed {
				t.Fatalf("exit %d, want %d: %s", code, exitUploadFailed, e.log)
			}
			if !strings.Contains(e.log.String(), c.want) {
				t.Errorf("messages %q do not say %q", e.log.String(), c.want)
			}
			if keys := e.s3.uploadKeys(); len(keys) > 0 {
				t.Errorf("uploaded %v", keys)
			}
		})
	}
}

func TestRunPassesTheExitCodeThrough(t *testing.T) {
	e := setup(t)
	e.prepareRun(t, "out")
	if code := e.shell(`mkdir -p out && echo hi > out/a && exit 7`); code != 7 {
		t.Fatalf("exit %d, want 7", code)
	}
	if keys := e.s3.uploadKeys(); !reflect.DeepEqual(keys, []string{"report.json"}) {
		t.Errorf("uploaded %v; want the report only", keys)
	}
	if _, raw := e.report(t); raw != `{"version":1,"exitCode":7,"outputs":[]}` {
		t.Errorf("report %s", raw)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	e := setup(t)
	e.prepareRun(t, "out")
	if code := e.shell(`mkdir out; kill -KILL $$`); code != 128+9 {
		t.Fatalf("exit %d, want 137", code)
	}
	if r, _ := e.report(t); r.ExitCode != 137 {
		t.Errorf("report %+v", r)
	}
}

func TestRunForwardsSIGTERM(t *testing.T) {
	e := setup(t)
	e.prepareRun(t)
	ready := filepath.Join(e.root, "ready")
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
		}
	}()
	code := run(context.Background(), []string{"sh", "-c", `trap 'exit 42' TERM; touch "$1"; while :; do sleep 0.05; done`, "sh", ready})
	if code != 42 {
		t.Fatalf("exit %d, want 42 (the child's answer to SIGTERM)", code)
	}
}

func TestRunCommandNotFound(t *testing.T) {
	e := setup(t)
	e.prepareRun(t)
	if code := run(context.Background(), []string{"mlpipe-no-such-command"}); code != 127 {
		t.Fatalf("exit %d, want 127", code)
	}
	if !strings.Contains(e.log.String(), `mlpipe-pod: cannot run "mlpipe-no-such-command"`) {
		t.Errorf("messages %q", e.log)
	}
	if r, _ := e.report(t); r.ExitCode != 127 {
		t.Errorf("report %+v", r)
	}
}

func TestRunWithoutManifest(t *testing.T) {
	e := setup(t)
	marker := filepath.Join(e.root, "ran")
	if code := run(context.Background(), []string{"touch", marker}); code != exitSetupFailed {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
	if !strings.Contains(e.log.String(), "cannot read the manifest") {
		t.Errorf("messages %q", e.log)
	}
}

func TestRunUploadFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		e.s3.status["out/out"] = http.StatusForbidden
		if code := e.shell(`mkdir out && echo a > out/a`); code != exitUploadFailed {
			t.Fatalf("exit %d", code)
		}
		if _, ok := e.s3.upload("report.json"); ok {
			t.Error("a report was sent")
		}
		if !strings.Contains(e.log.String(), `mlpipe-pod: output "out": cannot upload it: HTTP status 403`) {
			t.Errorf("messages %q", e.log)
		}
	})
	t.Run("retried", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		e.s3.failures["out/out"] = 2
		e.s3.failures["report.json"] = 1
		if code := e.shell(`mkdir out && echo a > out/a`); code != 0 {
			t.Fatalf("exit %d: %s", code, e.log)
		}
		if u, _ := e.s3.upload("out/out"); len(readTar(t, u.body)) != 2 {
			t.Error("the retried upload is not the whole tar")
		}
	})
	t.Run("report refused", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		e.s3.status["report.json"] = http.StatusForbidden
		if code := e.shell(`mkdir out && echo a > out/a`); code != exitUploadFailed {
			t.Fatalf("exit %d", code)
		}
	})
}

func TestRunBoundsOutputs(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		maxOutputEntries = 3
		if code := e.shell(`mkdir out && touch out/a out/b out/c`); code != exitUploadFailed {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(e.log.String(), `output "out": it has more than 3 entries`) {
			t.Errorf("messages %q", e.log)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		maxOutputBytes = 10
		if code := e.shell(`mkdir out && printf 123456 > out/a && printf 123456 > out/b`); code != exitUploadFailed {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(e.log.String(), `output "out": it holds more than 10 bytes`) {
			t.Errorf("messages %q", e.log)
		}
	})
	t.Run("depth", func(t *testing.T) {
		e := setup(t)
		e.prepareRun(t, "out")
		if code := e.shell(`mkdir out && cd out && i=0; while [ $i -lt 300 ]; do mkdir d && cd d; i=$((i+1)); done`); code != exitUploadFailed {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(e.log.String(), "nested more than 256 folders deep") {
			t.Errorf("messages %q", e.log)
		}
	})
}

func TestFetchThenRun(t *testing.T) {
	e := setup(t)
	e.serveManifest(t, e.manifest([]map[string]any{e.inputFor("data/in.txt", []byte("hello"), nil)}, []string{"out/result.txt"}, "out"))
	if code := realMain([]string{"fetch"}); code != 0 {
		t.Fatalf("fetch: exit %d: %s", code, e.log)
	}
	if code := realMain([]string{"run", "--", "sh", "-c", `cd "$1" && tr a-z A-Z < data/in.txt > out/result.txt`, "sh", e.workspace}); code != 0 {
		t.Fatalf("run: exit %d: %s", code, e.log)
	}
	u, _ := e.s3.upload("out/out/result.txt")
	if got := readTar(t, u.body); len(got) != 1 || got[0].body != "HELLO" || got[0].name != "result.txt" {
		t.Errorf("result: %v", got)
	}
}

func TestUsageAndVersion(t *testing.T) {
	e := setup(t)
	var out bytes.Buffer
	saved := stdout
	stdout = &out
	defer func() { stdout = saved }()
	if code := realMain([]string{"version"}); code != 0 || out.String() != "1\n" {
		t.Errorf("version: exit %d, printed %q", code, out.String())
	}
	for _, args := range [][]string{nil, {"run"}, {"run", "--"}, {"bogus"}, {"fetch", "x"}} {
		if code := realMain(args); code != exitUsage {
			t.Errorf("%q: exit %d", args, code)
		}
	}
	if !strings.HasPrefix(e.log.String(), "mlpipe-pod: usage:") {
		t.Errorf("usage %q", e.log)
	}
}

func TestCheckPath(t *testing.T) {
	for _, good := range []string{"a", "a/b", "data/train.csv", "..a", "a..", ".hidden", "a b/c\\d"} {
		if err := checkPath(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"", "/", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b", "a\x00"} {
		if checkPath(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
