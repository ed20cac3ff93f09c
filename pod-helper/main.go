// Command mlpipe-pod moves a stage's files in and out of a Kubernetes pod through an S3 bucket,
// with presigned URLs only: it never holds S3 keys.
//
//	mlpipe-pod fetch          the init container (helper image): installs itself in /mlpipe/bin,
//	                          reads the manifest URL from /mlpipe/secret/manifest-url and downloads
//	                          the manifest's inputs into the workspace
//	mlpipe-pod run -- ARGV... the main container (the stage's image): runs ARGV, then packs each
//	                          output as a tar, PUTs it, and PUTs a report
//	mlpipe-pod version        prints the protocol version
//
// Whatever it reads from the workspace comes from an arbitrary user container and is treated as
// hostile: sizes are bounded, nothing is reached through a symbolic link, and every path is
// walked one folder at a time from descriptors (openat with O_NOFOLLOW). URLs carry signatures:
// none is ever printed. Every error is one line prefixed "mlpipe-pod: ".
//
// MLPIPE_POD_ROOT (default "") is prefixed to /workspace, /mlpipe/bin and /mlpipe/secret, for tests.
// Linux only (it relies on openat, O_PATH and /proc/self/exe).
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// version is the protocol version: the manifest's and the report's "version", and the tag of the
// helper image (localhost/mlpipe-pod:1). Bump it with any incompatible change.
const version = "1"

const (
	maxURLFileBytes  = 64 << 10
	maxInputs        = 1_000_000
	maxOutputs       = 10_000
	maxPathBytes     = 4096
	maxInputBytes    = 1 << 40 // one input's declared size
	maxOutputDepth   = 256     // folders nested in one output
	exitUsage        = 2
	exitNotFound     = 127
	exitCannotRun    = 126
	exitUploadFailed = 121      // the command succeeded, its outputs could not be sent; no report
	exitSetupFailed  = 122      // run: the manifest could not be read; the command was not started
	oPath            = 0x200000 // O_PATH (the same on amd64, arm64 and Linux's other generic ABIs)
)

// Variables rather than constants so that tests can make them small.
var (
	maxManifestBytes  int64     = 64 << 20
	maxOutputBytes    int64     = 1 << 40 // the sum of one output's file sizes
	maxOutputEntries            = 1_000_000
	manifestTimeout             = 60 * time.Second
	stallTimeout                = 60 * time.Second
	retryBackoff                = []time.Duration{500 * time.Millisecond, 2 * time.Second, 5 * time.Second}
	parallelDownloads           = 8
	selfExe                     = "/proc/self/exe"
	logOut            io.Writer = os.Stderr
	stdout            io.Writer = os.Stdout
)

var client = &http.Client{
	Transport: func() http.RoundTripper {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Bytes as stored, never a transparently decompressed stream: sizes and digests are checked.
		t.DisableCompression = true
		t.MaxIdleConnsPerHost = 2 * parallelDownloads
		return t
	}(),
	// A presigned URL answers itself; a redirect is an error (its status), never followed.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func main() { os.Exit(realMain(os.Args[1:])) }

func realMain(args []string) int {
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "version":
		if len(args) != 1 {
			return usage()
		}
		fmt.Fprintln(stdout, version)
		return 0
	case "fetch":
		if len(args) != 1 {
			return usage()
		}
		if err := fetch(context.Background()); err != nil {
			report(err)
			return 1
		}
		return 0
	case "run":
		argv := args[1:]
		if len(argv) > 0 && argv[0] == "--" {
			argv = argv[1:]
		}
		if len(argv) == 0 {
			return usage()
		}
		return run(context.Background(), argv)
	}
	return usage()
}

func usage() int {
	fmt.Fprintln(logOut, "mlpipe-pod: usage: mlpipe-pod fetch | mlpipe-pod run -- COMMAND [ARG...] | mlpipe-pod version")
	return exitUsage
}

// ---------------------------------------------------------------------------------------------
// Messages

var (
	urlPattern   = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]*`)
	queryPattern = regexp.MustCompile(`(?i)x-amz-[a-z0-9-]*=[^\s&"'<>]*`)
)

// redact removes anything that looks like a URL or a signature from a message: errors of the
// HTTP client name the URL, and a presigned URL is a credential.
func redact(message string) string {
	message = urlPattern.ReplaceAllString(message, "<url>")
	return queryPattern.ReplaceAllString(message, "<signature>")
}

// line is how an error is printed: redacted, on one line, prefixed.
func line(err error) string {
	message := strings.NewReplacer("\n", " ", "\r", " ").Replace(redact(err.Error()))
	return "mlpipe-pod: " + message
}

func report(err error) { fmt.Fprintln(logOut, line(err)) }

// show quotes a path (or name) for a message: control characters escaped, long ones cut.
func show(path string) string {
	const limit = 300
	if len(path) > limit {
		path = strings.ToValidUTF8(path[:limit], "") + "..."
	}
	return strconv.Quote(path)
}

// ---------------------------------------------------------------------------------------------
// Layout and manifest

type layout struct{ root, bin, secret string }

func paths() layout {
	root := os.Getenv("MLPIPE_POD_ROOT")
	return layout{
		root:   root,
		bin:    filepath.Join("/", root, "mlpipe", "bin"),
		secret: filepath.Join("/", root, "mlpipe", "secret"),
	}
}

func (l layout) workspace(m *manifest) string { return filepath.Join("/", l.root, m.Workspace) }

type manifest struct {
	Version   int      `json:"version"`
	Workspace string   `json:"workspace"`
	Dirs      []string `json:"dirs"`
	Inputs    []input  `json:"inputs"`
	Outputs   []output `json:"outputs"`
	Report    string   `json:"report"`
}

type input struct {
	Path   string `json:"path"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Size   *int64 `json:"size"`
	Mode   *int64 `json:"mode"`
}

type output struct {
	Path string `json:"path"`
	URL  string `json:"url"`
}

// checkPath accepts a relative, slash-separated path with no empty, "." or ".." part.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("is empty")
	case len(path) > maxPathBytes:
		return fmt.Errorf("is longer than %d bytes", maxPathBytes)
	case strings.ContainsRune(path, 0):
		return errors.New("contains a NUL byte")
	case strings.HasPrefix(path, "/"):
		return errors.New("is absolute")
	}
	for _, part := range strings.Split(path, "/") {
		if part == "" || part == "." || part == ".." {
			return errors.New(`has an empty, "." or ".." part`)
		}
	}
	return nil
}

// checkURL accepts an absolute http(s) URL; it never says what the URL is.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("has no URL")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("has a URL that is not an absolute http(s) URL")
	}
	return nil
}

func parseManifest(raw []byte) (*manifest, error) {
	var m manifest
	decoder := json.NewDecoder(bytes.NewReader(raw))
	if err := decoder.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: not valid JSON: %s", redact(err.Error()))
	}
	if decoder.More() {
		return nil, errors.New("manifest: data after the JSON object")
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("manifest: version %d is not supported (this helper speaks version %s)", m.Version, version)
	}
	if !filepath.IsAbs(m.Workspace) || filepath.Clean(m.Workspace) != m.Workspace ||
		strings.ContainsRune(m.Workspace, 0) || len(m.Workspace) > maxPathBytes {
		return nil, errors.New("manifest: workspace must be a clean absolute path")
	}
	if len(m.Inputs) > maxInputs {
		return nil, fmt.Errorf("manifest: %d inputs; at most %d are allowed", len(m.Inputs), maxInputs)
	}
	if len(m.Outputs) > maxOutputs {
		return nil, fmt.Errorf("manifest: %d outputs; at most %d are allowed", len(m.Outputs), maxOutputs)
	}
	if len(m.Dirs) > maxInputs {
		return nil, fmt.Errorf("manifest: %d dirs; at most %d are allowed", len(m.Dirs), maxInputs)
	}
	for _, dir := range m.Dirs {
		if err := checkPath(dir); err != nil {
			return nil, fmt.Errorf("manifest: dir %s %v", show(dir), err)
		}
	}
	seen := make(map[string]bool, len(m.Inputs))
	for i := range m.Inputs {
		in := &m.Inputs[i]
		if err := checkPath(in.Path); err != nil {
			return nil, fmt.Errorf("manifest: input %s %v", show(in.Path), err)
		}
		if seen[in.Path] {
			return nil, fmt.Errorf("manifest: input %s is listed twice", show(in.Path))
		}
		seen[in.Path] = true
		if err := checkURL(in.URL); err != nil {
			return nil, fmt.Errorf("manifest: input %s %v", show(in.Path), err)
		}
		in.SHA256 = strings.ToLower(in.SHA256)
		if len(in.SHA256) != 64 || strings.Trim(in.SHA256, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("manifest: input %s has no sha256 of 64 hex digits", show(in.Path))
		}
		if in.Size == nil || *in.Size < 0 || *in.Size > maxInputBytes {
			return nil, fmt.Errorf("manifest: input %s needs a size from 0 to %d bytes", show(in.Path), int64(maxInputBytes))
		}
		// Only the permission bits are used: a whole st_mode (0o100644) is accepted too.
		if in.Mode != nil && (*in.Mode < 0 || *in.Mode > 0xffffffff) {
			return nil, fmt.Errorf("manifest: input %s has an invalid mode", show(in.Path))
		}
	}
	for _, out := range m.Outputs {
		if err := checkPath(out.Path); err != nil {
			return nil, fmt.Errorf("manifest: output %s %v", show(out.Path), err)
		}
		if err := checkURL(out.URL); err != nil {
			return nil, fmt.Errorf("manifest: output %s %v", show(out.Path), err)
		}
	}
	if err := checkURL(m.Report); err != nil {
		return nil, fmt.Errorf("manifest: the report %v", err)
	}
	return &m, nil
}

// readBounded reads a whole file of at most limit bytes.
func readBounded(path string, limit int64, what string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", what, err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, limit)
	}
	return data, nil
}

// writeAtomic writes a file beside its destination and renames it into place.
func writeAtomic(path string, data io.Reader, mode os.FileMode) error {
	temp, err := os.CreateTemp(filepath.Dir(path), ".mlpipe-*")
	if err != nil {
		return err
	}
	defer os.Remove(temp.Name())
	if _, err := io.Copy(temp, data); err != nil {
		temp.Close()
		return err
	}
	if err := temp.Chmod(mode); err != nil {
		temp.Close()
		return err
	}
	if err := temp.Close(); err != nil {
		return err
	}
	return os.Rename(temp.Name(), path)
}

// ---------------------------------------------------------------------------------------------
// Descriptor-relative file system access: nothing is reached through a symbolic link.

func ignoringEINTR[T any](call func() (T, error)) (T, error) {
	for {
		value, err := call()
		if err != syscall.EINTR {
			return value, err
		}
	}
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	return ignoringEINTR(func() (int, error) { return syscall.Openat(dirfd, name, flags|syscall.O_CLOEXEC, mode) })
}

// lstatAt describes name in dirfd without following it (an O_PATH descriptor opens nothing:
// no FIFO blocks, no device is touched).
func lstatAt(dirfd int, name string) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	fd, err := openat(dirfd, name, oPath|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return st, err
	}
	defer syscall.Close(fd)
	err = syscall.Fstat(fd, &st)
	return st, err
}

func kind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "a regular file"
	case syscall.S_IFDIR:
		return "a folder"
	case syscall.S_IFLNK:
		return "a symbolic link"
	case syscall.S_IFIFO:
		return "a FIFO"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR:
		return "a character device"
	case syscall.S_IFBLK:
		return "a block device"
	}
	return "a special file"
}

// walkError says which folder on the way could not be opened, and why.
type walkError struct {
	at     string // the path walked so far, including the part that failed
	err    error  // the errno
	reason string // "is a symbolic link" and the like, when known
}

func (e *walkError) Error() string {
	if e.reason != "" {
		return fmt.Sprintf("%s %s", show(e.at), e.reason)
	}
	return fmt.Sprintf("%s: %v", show(e.at), e.err)
}

// missing tells whether the walk failed because the path does not exist (or runs into a file).
func (e *walkError) missing() bool {
	return e.err == syscall.ENOENT || (e.err == syscall.ENOTDIR && e.reason == "")
}

// openDirs walks parts below dirfd one folder at a time, each opened with O_NOFOLLOW relative to
// the one before; with create, missing folders are made (0755). Returns a descriptor to close.
func openDirs(dirfd int, parts []string, create bool) (int, error) {
	fd, err := openat(dirfd, ".", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return -1, err
	}
	for i, part := range parts {
		if create {
			if _, err := ignoringEINTR(func() (int, error) { return 0, syscall.Mkdirat(fd, part, 0o755) }); err != nil && err != syscall.EEXIST {
				syscall.Close(fd)
				return -1, &walkError{at: strings.Join(parts[:i+1], "/"), err: err}
			}
		}
		next, err := openat(fd, part, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			failure := &walkError{at: strings.Join(parts[:i+1], "/"), err: err}
			if err == syscall.ELOOP || err == syscall.ENOTDIR {
				if st, statErr := lstatAt(fd, part); statErr == nil {
					if st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
						failure.reason = "is a symbolic link; refusing to follow it"
					} else if err == syscall.ENOTDIR && create {
						failure.reason = "is " + kind(st.Mode) + ", not a folder"
					}
				}
			}
			syscall.Close(fd)
			return -1, failure
		}
		syscall.Close(fd)
		fd = next
	}
	return fd, nil
}

func randomName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// ---------------------------------------------------------------------------------------------
// HTTP: retries, stall detection, errors that never name the URL

// transientError marks a failure worth another attempt (a connection error, a 5xx status).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// readError marks an error of the response or request body's stream (not of a local file).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// withRetries runs attempt once and then up to len(retryBackoff) more times while it fails
// transiently.
func withRetries(ctx context.Context, attempt func() error) error {
	for try := 0; ; try++ {
		err := attempt()
		var transient *transientError
		if err == nil || !errors.As(err, &transient) {
			return err
		}
		if try >= len(retryBackoff) {
			return fmt.Errorf("%v (gave up after %d attempts)", transient.err, try+1)
		}
		select {
		case <-time.After(retryBackoff[try]):
		case <-ctx.Done():
			return transient.err
		}
	}
}

// stallGuard cancels a request when no byte has moved for stallTimeout.
type stallGuard struct {
	timer   *time.Timer
	stalled atomic.Bool
}

func withStallGuard(parent context.Context) (context.Context, *stallGuard, func()) {
	ctx, cancel := context.WithCancel(parent)
	guard := &stallGuard{}
	guard.timer = time.AfterFunc(stallTimeout, func() {
		guard.stalled.Store(true)
		cancel()
	})
	return ctx, guard, func() {
		guard.timer.Stop()
		cancel()
	}
}

func (g *stallGuard) progress() { g.timer.Reset(stallTimeout) }

// classify turns a failed request or body stream into the error to report.
func (g *stallGuard) classify(parent context.Context, err error) error {
	switch {
	case g.stalled.Load():
		return fmt.Errorf("stalled: no data moved for %s", stallTimeout)
	case errors.Is(parent.Err(), context.DeadlineExceeded):
		return errors.New("timed out")
	case parent.Err() != nil:
		return parent.Err()
	}
	return &transientError{describe(err)}
}

// describe strips the URL that the HTTP client puts in its errors.
func describe(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return errors.New(redact(err.Error()))
}

func statusError(code int) error {
	err := fmt.Errorf("HTTP status %d", code)
	switch {
	case code >= 500:
		return &transientError{err}
	case code == http.StatusForbidden:
		return fmt.Errorf("%v (access denied: the presigned URL may have expired)", err)
	}
	return err
}

// guardedReader notes progress for the stall guard and marks its errors as stream errors.
type guardedReader struct {
	r     io.Reader
	guard *stallGuard
}

func (r guardedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.guard.progress()
	}
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// getOnce GETs a URL (one attempt) and hands a 200 response's body to consume.
func getOnce(ctx context.Context, rawURL string, timeout time.Duration, consume func(*http.Response, io.Reader) error) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	requestCtx, guard, stop := withStallGuard(ctx)
	defer stop()
	request, err := http.NewRequestWithContext(requestCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		return errors.New("the URL is not valid")
	}
	response, err := client.Do(request)
	if err != nil {
		return guard.classify(ctx, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(response.Body, 64<<10))
		return statusError(response.StatusCode)
	}
	err = consume(response, guardedReader{response.Body, guard})
	var streamErr *readError
	if errors.As(err, &streamErr) {
		return guard.classify(ctx, streamErr.err)
	}
	return err
}

// put PUTs size bytes of body with a Content-Length (S3 takes no chunked uploads), retrying.
func put(ctx context.Context, rawURL string, body io.ReaderAt, size int64) error {
	return withRetries(ctx, func() error {
		requestCtx, guard, stop := withStallGuard(ctx)
		defer stop()
		var stream io.Reader = guardedReader{io.NewSectionReader(body, 0, size), guard}
		request, err := http.NewRequestWithContext(requestCtx, http.MethodPut, rawURL, stream)
		if err != nil {
			return errors.New("the URL is not valid")
		}
		request.ContentLength = size
		if size == 0 {
			request.Body = http.NoBody
		}
		response, err := client.Do(request)
		if err != nil {
			return guard.classify(ctx, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(response.Body, 64<<10))
		response.Body.Close()
		if response.StatusCode < 200 || response.StatusCode > 299 {
			return statusError(response.StatusCode)
		}
		return nil
	})
}

// ---------------------------------------------------------------------------------------------
// fetch

func fetch(ctx context.Context) error {
	start := time.Now()
	l := paths()
	if err := os.MkdirAll(l.bin, 0o755); err != nil {
		return fmt.Errorf("cannot make %s: %v", l.bin, err)
	}
	if err := installSelf(l.bin); err != nil {
		return err
	}
	secret, err := readBounded(filepath.Join(l.secret, "manifest-url"), maxURLFileBytes, "the manifest URL file")
	if err != nil {
		return err
	}
	manifestURL := strings.TrimSpace(string(secret))
	if err := checkURL(manifestURL); err != nil {
		return fmt.Errorf("the manifest URL file %v", err)
	}
	var raw []byte
	err = withRetries(ctx, func() error {
		return getOnce(ctx, manifestURL, manifestTimeout, func(_ *http.Response, body io.Reader) error {
			data, err := io.ReadAll(io.LimitReader(body, maxManifestBytes+1))
			if err != nil {
				return err
			}
			if int64(len(data)) > maxManifestBytes {
				return fmt.Errorf("larger than %d bytes", maxManifestBytes)
			}
			raw = data
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("cannot get the manifest: %v", err)
	}
	m, err := parseManifest(raw)
	if err != nil {
		return err
	}
	workspace := l.workspace(m)
	if err := os.MkdirAll(workspace, 0o755); err != nil {
		return fmt.Errorf("cannot make the workspace: %v", err)
	}
	wsfd, err := openat(-100 /* AT_FDCWD */, workspace, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("cannot open the workspace %s: %v", show(workspace), err)
	}
	defer syscall.Close(wsfd)
	for _, dir := range m.Dirs {
		fd, err := openDirs(wsfd, strings.Split(dir, "/"), true)
		if err != nil {
			return fmt.Errorf("cannot make dir %s: %v", show(dir), err)
		}
		syscall.Close(fd)
	}
	total, err := fetchInputs(ctx, wsfd, m.Inputs)
	if err != nil {
		return err
	}
	// Written last: its presence says the workspace is complete.
	if err := writeAtomic(filepath.Join(l.bin, "manifest.json"), bytes.NewReader(raw), 0o444); err != nil {
		return fmt.Errorf("cannot write the manifest for the run step: %v", err)
	}
	fmt.Fprintf(logOut, "mlpipe-pod: fetched %d files (%d bytes) in %.1f s\n", len(m.Inputs), total, time.Since(start).Seconds())
	return nil
}

// installSelf copies this executable to bin/mlpipe-pod (0555), for the stage's own image to run.
func installSelf(bin string) error {
	self, err := os.Open(selfExe)
	if err != nil {
		return fmt.Errorf("cannot read its own executable: %v", err)
	}
	defer self.Close()
	if err := writeAtomic(filepath.Join(bin, "mlpipe-pod"), self, 0o555); err != nil {
		return fmt.Errorf("cannot install itself in %s: %v", bin, err)
	}
	return nil
}

func fetchInputs(ctx context.Context, wsfd int, inputs []input) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		total    atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
		jobs     = make(chan *input)
	)
	for range parallelDownloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buffer := make([]byte, 256<<10)
			for in := range jobs {
				if err := fetchInput(ctx, wsfd, in, buffer); err != nil {
					once.Do(func() {
						firstErr = err
						cancel()
					})
					continue
				}
				total.Add(*in.Size)
			}
		}()
	}
feed:
	for i := range inputs {
		select {
		case jobs <- &inputs[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return total.Load(), firstErr
}

// localError marks an error of the local file being written (never retried).
type localError struct{ err error }

func (e *localError) Error() string { return "writing it: " + e.err.Error() }

type localWriter struct{ w io.Writer }

func (w localWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = &localError{err}
	}
	return n, err
}

// fetchInput downloads one input into a temporary file beside its destination, checks its size
// and digest, and renames it into place.
func fetchInput(ctx context.Context, wsfd int, in *input, buffer []byte) error {
	fail := func(err error) error { return fmt.Errorf("input %s: %v", show(in.Path), err) }
	parts := strings.Split(in.Path, "/")
	dirfd, err := openDirs(wsfd, parts[:len(parts)-1], true)
	if err != nil {
		return fail(err)
	}
	defer syscall.Close(dirfd)
	temp := randomName(".mlpipe-fetch-")
	fd, err := openat(dirfd, temp, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fail(fmt.Errorf("cannot create a temporary file: %v", err))
	}
	file := os.NewFile(uintptr(fd), temp)
	placed := false
	defer func() {
		file.Close()
		if !placed {
			_ = syscall.Unlinkat(dirfd, temp)
		}
	}()
	size := *in.Size
	err = withRetries(ctx, func() error {
		if err := file.Truncate(0); err != nil {
			return &localError{err}
		}
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return &localError{err}
		}
		return getOnce(ctx, in.URL, 0, func(response *http.Response, body io.Reader) error {
			if response.ContentLength >= 0 && response.ContentLength != size {
				return fmt.Errorf("the server has %d bytes; the manifest says %d", response.ContentLength, size)
			}
			hash := sha256.New()
			n, err := io.CopyBuffer(io.MultiWriter(localWriter{file}, hash), io.LimitReader(body, size+1), buffer)
			if err != nil {
				return err
			}
			if n != size {
				return fmt.Errorf("the server sent %s bytes; the manifest says %d", more(n, size), size)
			}
			if got := hex.EncodeToString(hash.Sum(nil)); got != in.SHA256 {
				return fmt.Errorf("sha256 mismatch: the download has %s; the manifest says %s", got, in.SHA256)
			}
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	mode := uint32(0o644)
	if in.Mode != nil {
		mode = uint32(*in.Mode) & 0o777
	}
	if err := file.Chmod(os.FileMode(mode)); err != nil {
		return fail(&localError{err})
	}
	if err := file.Close(); err != nil {
		return fail(&localError{err})
	}
	if err := syscall.Renameat(dirfd, temp, dirfd, parts[len(parts)-1]); err != nil {
		return fail(fmt.Errorf("cannot put it in place: %v", err))
	}
	placed = true
	return nil
}

func more(n, size int64) string {
	if n > size {
		return "more than " + strconv.FormatInt(size, 10)
	}
	return strconv.FormatInt(n, 10)
}

// ---------------------------------------------------------------------------------------------
// run

type runReport struct {
	Version  int            `json:"version"`
	ExitCode int            `json:"exitCode"`
	Outputs  []outputReport `json:"outputs"`
}

type outputReport struct {
	Path    string `json:"path"`
	Present bool   `json:"present"`
	// Each file's "sha256:<hex>" by its path below the output ("" for a file output).
	Files *map[string]string `json:"files,omitempty"`
}

func run(ctx context.Context, argv []string) int {
	l := paths()
	raw, err := readBounded(filepath.Join(l.bin, "manifest.json"), maxManifestBytes, "the manifest")
	var m *manifest
	if err == nil {
		m, err = parseManifest(raw)
	}
	if err != nil {
		report(fmt.Errorf("%v; the command was not started", err))
		return exitSetupFailed
	}
	code := runCommand(argv)
	if code != 0 {
		// Best effort: the runner learns the exit code from the pod as well.
		if err := putReport(ctx, m, runReport{Version: 1, ExitCode: code, Outputs: []outputReport{}}); err != nil {
			report(fmt.Errorf("cannot send the report: %v", err))
		}
		return code
	}
	start := time.Now()
	outputs, uploaded, total, err := uploadOutputs(ctx, l.workspace(m), l.bin, m.Outputs)
	if err == nil {
		err = putReport(ctx, m, runReport{Version: 1, ExitCode: 0, Outputs: outputs})
		if err != nil {
			err = fmt.Errorf("cannot send the report: %v", err)
		}
	}
	if err != nil {
		report(err)
		return exitUploadFailed
	}
	fmt.Fprintf(logOut, "mlpipe-pod: uploaded %d outputs (%d bytes) in %.1f s\n", uploaded, total, time.Since(start).Seconds())
	return 0
}

// runCommand runs argv with this process's standard output and error, stdin from /dev/null,
// forwarding SIGTERM and SIGINT; returns its exit code (128+signal when a signal ended it).
func runCommand(argv []string) int {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	command := exec.Command(argv[0], argv[1:]...)
	command.Stdin = nil // /dev/null
	command.Stdout = os.Stdout
	command.Stderr = os.Stderr
	if err := command.Start(); err != nil {
		report(fmt.Errorf("cannot run %s: %s", show(argv[0]), redact(err.Error())))
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT) {
			return exitNotFound
		}
		return exitCannotRun
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				_ = command.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	_ = command.Wait()
	close(done)
	if status, ok := command.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal())
	}
	return command.ProcessState.ExitCode()
}

func putReport(ctx context.Context, m *manifest, r runReport) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return put(ctx, m.Report, bytes.NewReader(data), int64(len(data)))
}

func uploadOutputs(ctx context.Context, workspace, bin string, outputs []output) ([]outputReport, int, int64, error) {
	wsfd, err := openat(-100 /* AT_FDCWD */, workspace, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot open the workspace %s: %v", show(workspace), err)
	}
	defer syscall.Close(wsfd)
	results := make([]outputReport, 0, len(outputs))
	uploaded, total := 0, int64(0)
	for _, out := range outputs {
		result, size, err := uploadOutput(ctx, wsfd, bin, out)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("output %s: %v", show(out.Path), err)
		}
		if result.Present {
			uploaded++
			total += size
		}
		results = append(results, result)
	}
	return results, uploaded, total, nil
}

// uploadOutput packs one output into a temporary tar in bin and PUTs it; an output that does not
// exist is reported absent.
func uploadOutput(ctx context.Context, wsfd int, bin string, out output) (outputReport, int64, error) {
	absent := outputReport{Path: out.Path}
	parts := strings.Split(out.Path, "/")
	base := parts[len(parts)-1]
	dirfd, err := openDirs(wsfd, parts[:len(parts)-1], false)
	if err != nil {
		var walk *walkError
		if errors.As(err, &walk) && walk.missing() {
			return absent, 0, nil
		}
		return absent, 0, err
	}
	defer syscall.Close(dirfd)
	st, err := lstatAt(dirfd, base)
	if err == syscall.ENOENT {
		return absent, 0, nil
	} else if err != nil {
		return absent, 0, fmt.Errorf("cannot read it: %v", err)
	}
	temp, err := os.CreateTemp(bin, ".mlpipe-output-*.tar")
	if err != nil {
		return absent, 0, fmt.Errorf("cannot make a temporary file: %v", err)
	}
	defer func() {
		temp.Close()
		os.Remove(temp.Name())
	}()
	buffered := bufio.NewWriterSize(temp, 1<<20)
	p := &packer{tar: tar.NewWriter(buffered), files: map[string]string{}, buffer: make([]byte, 256<<10)}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		err = p.addFile(dirfd, base, st, base, "")
	case syscall.S_IFDIR:
		err = p.addDir(dirfd, base, base+"/", "", 0)
	default:
		err = fmt.Errorf("it is %s; outputs must be regular files and folders", kind(st.Mode))
	}
	if err == nil {
		err = p.tar.Close()
	}
	if err == nil {
		err = buffered.Flush()
	}
	if err != nil {
		return absent, 0, err
	}
	size, err := temp.Seek(0, io.SeekEnd)
	if err != nil {
		return absent, 0, err
	}
	if err := put(ctx, out.URL, temp, size); err != nil {
		return absent, 0, fmt.Errorf("cannot upload it: %v", err)
	}
	return outputReport{Path: out.Path, Present: true, Files: &p.files}, size, nil
}

// packer writes an output as a tar: regular files and folders only, bounded.
type packer struct {
	tar     *tar.Writer
	files   map[string]string
	entries int
	bytes   int64
	buffer  []byte
}

func (p *packer) count() error {
	p.entries++
	if p.entries > maxOutputEntries {
		return fmt.Errorf("it has more than %d entries", maxOutputEntries)
	}
	return nil
}

// modTime clamps a file's time to what a plain tar header holds.
func modTime(st *syscall.Stat_t) time.Time {
	return time.Unix(min(max(st.Mtim.Sec, 0), 0o77777777777), 0)
}

// addDir writes the folder name (in dirfd) as tarName ("base/...") and its contents, sorted;
// key is the folder's path below the output ("" for the output itself, else "sub/").
func (p *packer) addDir(dirfd int, name, tarName, key string, depth int) error {
	if depth >= maxOutputDepth {
		return fmt.Errorf("%s is nested more than %d folders deep", show(key), maxOutputDepth)
	}
	if err := p.count(); err != nil {
		return err
	}
	fd, err := openat(dirfd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s: %v", show(strings.TrimSuffix(tarName, "/")), err)
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	header := &tar.Header{Typeflag: tar.TypeDir, Name: tarName, Mode: int64(st.Mode & 0o777), ModTime: modTime(&st)}
	if err := p.tar.WriteHeader(header); err != nil {
		return err
	}
	var names []string
	for {
		batch, err := dir.Readdirnames(4096)
		names = append(names, batch...)
		if p.entries+len(names) > maxOutputEntries {
			return fmt.Errorf("it has more than %d entries", maxOutputEntries)
		}
		if err == io.EOF || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("cannot list %s: %v", show(strings.TrimSuffix(tarName, "/")), err)
		}
	}
	sort.Strings(names)
	for _, child := range names {
		childKey := key + child
		if !utf8.ValidString(child) {
			return fmt.Errorf("%s: file names must be valid UTF-8", show(childKey))
		}
		if len(childKey) > maxPathBytes {
			return fmt.Errorf("%s: the path is longer than %d bytes", show(childKey), maxPathBytes)
		}
		st, err := lstatAt(fd, child)
		if err != nil {
			return fmt.Errorf("cannot read %s: %v", show(childKey), err)
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			err = p.addDir(fd, child, tarName+child+"/", childKey+"/", depth+1)
		case syscall.S_IFREG:
			err = p.addFile(fd, child, st, tarName+child, childKey)
		default:
			err = fmt.Errorf("%s is %s; outputs must be regular files and folders", show(childKey), kind(st.Mode))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addFile writes the regular file name (in dirfd, described by seen) as tarName, and notes its
// sha256 under key.
func (p *packer) addFile(dirfd int, name string, seen syscall.Stat_t, tarName, key string) error {
	if err := p.count(); err != nil {
		return err
	}
	shown := show(key)
	if key == "" {
		shown = "it"
	}
	fd, err := openat(dirfd, name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("cannot open %s: %v", shown, err)
	}
	_ = syscall.SetNonblock(fd, false)
	file := os.NewFile(uintptr(fd), name)
	defer file.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Ino != seen.Ino || st.Dev != seen.Dev {
		return fmt.Errorf("%s changed while it was being packed", shown)
	}
	p.bytes += st.Size
	if p.bytes > maxOutputBytes {
		return fmt.Errorf("it holds more than %d bytes", maxOutputBytes)
	}
	header := &tar.Header{Typeflag: tar.TypeReg, Name: tarName, Size: st.Size, Mode: int64(st.Mode & 0o777), ModTime: modTime(&st)}
	if err := p.tar.WriteHeader(header); err != nil {
		return err
	}
	hash := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(p.tar, hash), io.LimitReader(file, st.Size), p.buffer); err != nil {
		return fmt.Errorf("cannot pack %s: %v", shown, err)
	}
	// A file that shrank leaves the tar short of its header's size: the tar writer says so.
	if err := p.tar.Flush(); err != nil {
		return fmt.Errorf("%s changed while it was being packed: %v", shown, err)
	}
	p.files[key] = "sha256:" + hex.EncodeToString(hash.Sum(nil))
	return nil
}
