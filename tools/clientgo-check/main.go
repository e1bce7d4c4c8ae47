// clientgo-check runs named checks of client-go's list/watch machinery against the API
// server of a kubeconfig and prints one JSON line per check:
//
//	{"check": "...", "ok": true|false, "detail": {...}}
//
// It is the client-go half of issue 10's conformance item: the same program runs against
// the real kube-apiserver and against sliceplane's server, and the Python test
// (tests/integration/differential/test_clientgo_conformance.py) compares the lines. Each
// check works in a namespace of its own (cg-<check>), makes the objects it needs and waits
// on sentinels rather than sleeps, so its detail is the same on every run; resource
// versions, uids and times are left out of the detail (or reduced to "N"), since they
// differ between servers.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

type result struct {
	Check  string         `json:"check"`
	OK     bool           `json:"ok"`
	Detail map[string]any `json:"detail"`
}

type checkFunc func(ctx context.Context, env *env, ns string) (map[string]any, error)

// env is what every check gets: the kubeconfig's rest.Config, a plain clientset and the
// request log of a recording transport (to tell which requests client-go really made).
type env struct {
	config *rest.Config
	client kubernetes.Interface
	rec    *recorder
}

// recorder logs "METHOD path?query" of each request and each answer's content type.
type recorder struct {
	mu           sync.Mutex
	requests     []string
	contentTypes map[string]bool
}

func (r *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		if err == nil {
			ct := resp.Header.Get("Content-Type")
			if i := strings.IndexByte(ct, ';'); i >= 0 {
				ct = ct[:i]
			}
			r.contentTypes[ct] = true
		}
		return resp, err
	})
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newEnv(base *rest.Config, mutate func(*rest.Config)) (*env, error) {
	cfg := rest.CopyConfig(base)
	rec := &recorder{contentTypes: map[string]bool{}}
	cfg.Wrap(rec.wrap)
	cfg.QPS, cfg.Burst = 200, 400
	if mutate != nil {
		mutate(cfg)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &env{config: cfg, client: cs, rec: rec}, nil
}

var checks = []struct {
	name   string
	fn     checkFunc
	mutate func(*rest.Config)
}{
	{"list-pagination", checkListPagination, nil},
	{"informer-pods", checkInformerPods, nil},
	{"informer-endpointslices", checkInformerSlices, nil},
	{"watch-from-resourceversion", checkWatchFromRV, nil},
	{"watch-bookmarks", checkWatchBookmarks, nil},
	{"watch-too-old-resourceversion", checkWatchGone, nil},
	{"reflector-resume-after-close", checkReflectorResume, nil},
	{"reflector-relist-on-gone", checkReflectorRelist, nil},
	{"watchlist-stream", checkWatchList, nil},
	{"selectors-list", checkSelectorsList, nil},
	{"selectors-watch", checkSelectorsWatch, nil},
	{"protobuf-negotiation", checkProtobuf, func(c *rest.Config) {
		c.ContentType = "application/vnd.kubernetes.protobuf"
		c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}},
	{"update-conflict", checkUpdateConflict, nil},
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server to check")
	only := flag.String("check", "", "comma-separated names of the checks to run (default all)")
	timeout := flag.Duration("timeout", 60*time.Second, "time limit of each check")
	flag.Parse()
	klog.SetOutput(os.Stderr)
	base, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientgo-check:", err)
		os.Exit(2)
	}
	wanted := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			wanted[n] = true
		}
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	for _, c := range checks {
		if len(wanted) > 0 && !wanted[c.name] {
			continue
		}
		res := result{Check: c.name}
		e, err := newEnv(base, c.mutate)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			ns := "cg-" + c.name
			if err = makeNamespace(ctx, e.client, ns); err == nil {
				res.Detail, err = c.fn(ctx, e, ns)
			}
			cancel()
		}
		if res.Detail == nil {
			res.Detail = map[string]any{}
		}
		if err != nil {
			res.Detail["error"] = err.Error()
			failed = true
		} else {
			res.OK = true
		}
		_ = out.Encode(res)
	}
	if failed {
		os.Exit(1)
	}
}

// ------------------------------------------------------------------ helpers

func makeNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

func pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

func createPod(ctx context.Context, c kubernetes.Interface, ns, name string, labels map[string]string) (*corev1.Pod, error) {
	return c.CoreV1().Pods(ns).Create(ctx, pod(ns, name, labels), metav1.CreateOptions{})
}

func relabel(ctx context.Context, c kubernetes.Interface, ns, name string, labels map[string]string) (*corev1.Pod, error) {
	p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	p.Labels = labels
	return c.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{})
}

func deletePod(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	zero := int64(0)
	return c.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
}

func names(pods []corev1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// eventLine is "TYPE name" (or "BOOKMARK" / "ERROR <code> <reason>"), the order-sensitive
// record of a watch that the comparison uses.
func eventLine(ev watch.Event) string {
	switch ev.Type {
	case watch.Bookmark:
		return "BOOKMARK"
	case watch.Error:
		st, _ := ev.Object.(*metav1.Status)
		if st != nil {
			return fmt.Sprintf("ERROR %d %s", st.Code, st.Reason)
		}
		return "ERROR"
	}
	m, err := meta.Accessor(ev.Object)
	if err != nil {
		return string(ev.Type) + " ?"
	}
	return string(ev.Type) + " " + m.GetName()
}

// collectUntil reads a watch until an event whose line is `until` (included), the watch
// ends, or the context is done; bookmarks are dropped unless keepBookmarks.
func collectUntil(ctx context.Context, w watch.Interface, until string, keepBookmarks bool) ([]string, error) {
	defer w.Stop()
	var lines []string
	for {
		select {
		case <-ctx.Done():
			return lines, fmt.Errorf("timed out waiting for %q; saw %v", until, lines)
		case ev, ok := <-w.ResultChan():
			if !ok {
				if until == "" {
					return lines, nil
				}
				return lines, fmt.Errorf("watch closed before %q; saw %v", until, lines)
			}
			line := eventLine(ev)
			if ev.Type == watch.Bookmark && !keepBookmarks {
				continue
			}
			lines = append(lines, line)
			if line == until {
				return lines, nil
			}
		}
	}
}

func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

var digits = regexp.MustCompile(`[0-9]+`)

// ------------------------------------------------------------------ checks

// list-pagination: Limit/Continue pages, one resourceVersion for all pages, and a Pod
// created between pages is not in them (the continue token pins the snapshot).
func checkListPagination(ctx context.Context, e *env, ns string) (map[string]any, error) {
	for i := 0; i < 7; i++ {
		if _, err := createPod(ctx, e.client, ns, fmt.Sprintf("p%d", i), nil); err != nil {
			return nil, err
		}
	}
	var pages [][]string
	var remaining []any
	rvs := map[string]bool{}
	opts := metav1.ListOptions{Limit: 3}
	for page := 0; ; page++ {
		l, err := e.client.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		pages = append(pages, names(l.Items))
		rvs[l.ResourceVersion] = true
		if l.RemainingItemCount != nil {
			remaining = append(remaining, *l.RemainingItemCount)
		} else {
			remaining = append(remaining, nil)
		}
		if page == 0 {
			if _, err := createPod(ctx, e.client, ns, "p9-late", nil); err != nil {
				return nil, err
			}
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	full, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	d := map[string]any{"pages": pages, "remainingItemCount": remaining, "afterwards": names(full.Items)}
	if len(rvs) != 1 {
		return d, fmt.Errorf("pages had %d resourceVersions", len(rvs))
	}
	return d, nil
}

// informer-pods: a shared informer (client-go's default reflector: WatchList when the
// WatchListClient gate is on) sees the Pods that exist as adds, then add/update/delete in
// order; the requests show whether it streamed or fell back to a list.
func checkInformerPods(ctx context.Context, e *env, ns string) (map[string]any, error) {
	for _, n := range []string{"a", "b"} {
		if _, err := createPod(ctx, e.client, ns, n, map[string]string{"v": "1"}); err != nil {
			return nil, err
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	var mu sync.Mutex
	var events []string
	record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	seen := func(s string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, x := range events {
				if x == s {
					return true
				}
			}
			return false
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { record("add " + o.(*corev1.Pod).Name) },
		UpdateFunc: func(o, n any) {
			record(fmt.Sprintf("update %s v=%s", n.(*corev1.Pod).Name, n.(*corev1.Pod).Labels["v"]))
		},
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			record("delete " + o.(*corev1.Pod).Name)
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("informer did not sync")
	}
	mu.Lock()
	initial := append([]string(nil), events...)
	sort.Strings(initial)
	events = nil
	mu.Unlock()
	if _, err := createPod(ctx, e.client, ns, "c", map[string]string{"v": "1"}); err != nil {
		return nil, err
	}
	if _, err := relabel(ctx, e.client, ns, "a", map[string]string{"v": "2"}); err != nil {
		return nil, err
	}
	if err := deletePod(ctx, e.client, ns, "b"); err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, ns, "zz-end", nil); err != nil {
		return nil, err
	}
	err := waitFor(ctx, "add zz-end", seen("add zz-end"))
	mu.Lock()
	after := append([]string(nil), events...)
	mu.Unlock()
	streamed, listed := false, false
	for _, r := range e.rec.snapshot() {
		if strings.Contains(r, "sendInitialEvents=true") {
			streamed = true
		} else if strings.HasPrefix(r, "GET ") && strings.Contains(r, "/pods?") && !strings.Contains(r, "watch=true") {
			listed = true
		}
	}
	gate := clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient)
	d := map[string]any{"initial": initial, "events": after, "watchListClientGate": gate,
		"streamedInitialList": streamed, "fellBackToList": listed}
	if err == nil && gate && (!streamed || listed) {
		err = fmt.Errorf("WatchListClient is on but the informer did not stream its initial list")
	}
	return d, err
}

// informer-endpointslices: the same for EndpointSlices (discovery.k8s.io/v1).
func checkInformerSlices(ctx context.Context, e *env, ns string) (map[string]any, error) {
	slices := e.client.DiscoveryV1().EndpointSlices(ns)
	mk := func(name, ip string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/service-name": "svc"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}}},
		}
	}
	if _, err := slices.Create(ctx, mk("s1", "10.0.0.1"), metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	f := informers.NewSharedInformerFactoryWithOptions(e.client, 0, informers.WithNamespace(ns))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	var mu sync.Mutex
	var events []string
	record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	addr := func(o any) string {
		s := o.(*discoveryv1.EndpointSlice)
		var a []string
		for _, ep := range s.Endpoints {
			a = append(a, ep.Addresses...)
		}
		return s.Name + " " + strings.Join(a, ",")
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { record("add " + addr(o)) },
		UpdateFunc: func(o, n any) { record("update " + addr(n)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			record("delete " + o.(*discoveryv1.EndpointSlice).Name)
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("informer did not sync")
	}
	if _, err := slices.Create(ctx, mk("s2", "10.0.0.2"), metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	s1, err := slices.Get(ctx, "s1", metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	s1.Endpoints = append(s1.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.3"}})
	if _, err := slices.Update(ctx, s1, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	if err := slices.Delete(ctx, "s2", metav1.DeleteOptions{}); err != nil {
		return nil, err
	}
	err = waitFor(ctx, "delete s2", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1] == "delete s2"
	})
	mu.Lock()
	defer mu.Unlock()
	return map[string]any{"events": append([]string(nil), events...)}, err
}

// watch-from-resourceversion: a watch from the resourceVersion of a write sees only what
// came after it.
func checkWatchFromRV(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if _, err := createPod(ctx, e.client, ns, "a", nil); err != nil {
		return nil, err
	}
	b, err := createPod(ctx, e.client, ns, "b", nil)
	if err != nil {
		return nil, err
	}
	if _, err := relabel(ctx, e.client, ns, "a", map[string]string{"x": "1"}); err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, ns, "c", nil); err != nil {
		return nil, err
	}
	w, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: b.ResourceVersion})
	if err != nil {
		return nil, err
	}
	if err := deletePod(ctx, e.client, ns, "b"); err != nil {
		return nil, err
	}
	lines, err := collectUntil(ctx, w, "DELETED b", false)
	return map[string]any{"events": lines}, err
}

// watch-bookmarks: with AllowWatchBookmarks a watch gets BOOKMARK events carrying a
// resourceVersion and nothing else of the object. Upstream's watch cache sends one 2 s
// before a watch's timeout, but only when its resourceVersion moved past the watch's, so
// a Pod in another namespace (an event this watch does not match) is written first.
func checkWatchBookmarks(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if _, err := createPod(ctx, e.client, ns, "a", nil); err != nil {
		return nil, err
	}
	l, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	timeout := int64(5)
	w, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
		ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true, TimeoutSeconds: &timeout})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	other := ns + "-other"
	if err := makeNamespace(ctx, e.client, other); err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, other, "elsewhere", nil); err != nil {
		return nil, err
	}
	start, _ := strconv.ParseUint(l.ResourceVersion, 10, 64)
	bookmarks, withRV, bare, advanced := 0, 0, 0, 0
	for ev := range w.ResultChan() {
		if ev.Type != watch.Bookmark {
			return nil, fmt.Errorf("unexpected %s", eventLine(ev))
		}
		bookmarks++
		p, ok := ev.Object.(*corev1.Pod)
		if ok && p.ResourceVersion != "" {
			withRV++
			if rv, err := strconv.ParseUint(p.ResourceVersion, 10, 64); err == nil && rv > start {
				advanced++
			}
		}
		if ok && p.Name == "" && len(p.Spec.Containers) == 0 {
			bare++
		}
	}
	d := map[string]any{"sawBookmark": bookmarks > 0, "allCarryResourceVersion": withRV == bookmarks,
		"allBare": bare == bookmarks, "allPastTheWatchStart": advanced == bookmarks}
	if bookmarks == 0 || withRV != bookmarks {
		return d, fmt.Errorf("%d bookmarks, %d with a resourceVersion", bookmarks, withRV)
	}
	return d, nil
}

// makeEvents writes n core/v1 Events: kube-apiserver keeps no watch cache for Events
// (DefaultWatchCacheSizes), so their watches and lists go to etcd, where a compacted
// revision is 410 Expired; the writes also push old revisions out of a server's window.
func makeEvents(ctx context.Context, c kubernetes.Interface, ns string, n int) error {
	for i := 0; i < n; i++ {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("e%03d", i)},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", APIVersion: "v1"},
			Reason:         "Check", Message: "clientgo-check", Type: corev1.EventTypeNormal,
		}
		if _, err := c.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// watchTooOld opens a watch of Events from resourceVersion 1 until the server says 410
// (the servers under test are run so that it becomes too old within seconds: etcd
// compacted every second on one, a short history window on the other); until then the
// watch replays the Events, which the caller counts as tries. It returns the error of
// the 410 and how it came: as the watch request's error or as an ERROR event.
func watchTooOld(ctx context.Context, c kubernetes.Interface, ns string) (error, string, error) {
	for {
		w, err := c.CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				return err, "request error", nil
			}
			return nil, "", err
		}
		select {
		case ev, ok := <-w.ResultChan():
			w.Stop()
			if ok && ev.Type == watch.Error {
				return apierrors.FromObject(ev.Object), "ERROR event", nil
			}
		case <-ctx.Done():
			w.Stop()
			return nil, "", fmt.Errorf("no 410 for resourceVersion 1")
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return nil, "", fmt.Errorf("no 410 for resourceVersion 1")
		}
	}
}

// watch-too-old-resourceversion: a watch from a resourceVersion the server no longer
// has ends with 410 Expired, which client-go classifies as IsResourceExpired/IsGone.
func checkWatchGone(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if err := makeEvents(ctx, e.client, ns, 60); err != nil {
		return nil, err
	}
	status, how, err := watchTooOld(ctx, e.client, ns)
	if err != nil {
		return nil, err
	}
	var st metav1.Status
	if se, ok := status.(apierrors.APIStatus); ok {
		st = se.Status()
	}
	d := map[string]any{"deliveredAs": how, "code": st.Code, "reason": string(st.Reason),
		"message":           digits.ReplaceAllString(st.Message, "N"),
		"isResourceExpired": apierrors.IsResourceExpired(status), "isGone": apierrors.IsGone(status)}
	if !apierrors.IsResourceExpired(status) {
		return d, fmt.Errorf("not a 410 Expired: %v", status)
	}
	return d, nil
}

// countingLW is a ListerWatcher over Pods of one namespace that logs each call ("list
// rv=…", "watch rv=…", with real resourceVersions reduced to N), can make its first list
// claim a stale resourceVersion, and can ask for short watches. It declares it does not
// support WatchList semantics, so the reflector lists and watches.
type countingLW struct {
	client       kubernetes.Interface
	ns           string
	events       bool // Events instead of Pods
	staleFirst   bool
	watchTimeout int64
	mu           sync.Mutex
	calls        []string
	lists        int
}

func (l *countingLW) IsWatchListSemanticsUnSupported() bool { return true }

func (l *countingLW) log(s string) { l.mu.Lock(); l.calls = append(l.calls, s); l.mu.Unlock() }

func rvWord(rv string) string {
	switch rv {
	case "", "0", "1":
		return "rv=" + rv
	}
	return "rv=N"
}

func (l *countingLW) List(o metav1.ListOptions) (runtime.Object, error) {
	var out runtime.Object
	var err error
	if l.events {
		out, err = l.client.CoreV1().Events(l.ns).List(context.Background(), o)
	} else {
		out, err = l.client.CoreV1().Pods(l.ns).List(context.Background(), o)
	}
	word := "list " + rvWord(o.ResourceVersion)
	if err != nil {
		if se, ok := err.(apierrors.APIStatus); ok {
			word += fmt.Sprintf(" -> %d", se.Status().Code)
		}
		l.log(word)
		return nil, err
	}
	l.log(word)
	l.mu.Lock()
	l.lists++
	if l.staleFirst && l.lists == 1 {
		m, _ := meta.ListAccessor(out)
		m.SetResourceVersion("1")
	}
	l.mu.Unlock()
	return out, nil
}

func (l *countingLW) Watch(o metav1.ListOptions) (watch.Interface, error) {
	l.log("watch " + rvWord(o.ResourceVersion))
	if l.watchTimeout > 0 {
		t := l.watchTimeout
		o.TimeoutSeconds = &t
	}
	if l.events {
		return l.client.CoreV1().Events(l.ns).Watch(context.Background(), o)
	}
	return l.client.CoreV1().Pods(l.ns).Watch(context.Background(), o)
}

func (l *countingLW) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func runReflector(ctx context.Context, lw *countingLW) (cache.Store, context.CancelFunc) {
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	var expected runtime.Object = &corev1.Pod{}
	if lw.events {
		expected = &corev1.Event{}
	}
	r := cache.NewReflector(lw, expected, store, 0)
	rctx, cancel := context.WithCancel(ctx)
	go r.RunWithContext(rctx)
	return store, cancel
}

func storeHas(store cache.Store, ns, name string) func() bool {
	return func() bool {
		_, ok, _ := store.GetByKey(ns + "/" + name)
		return ok
	}
}

// reflector-resume-after-close: the server ends a watch at its timeout; the reflector
// watches again from where it was (no relist) and keeps up with new Pods.
func checkReflectorResume(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if _, err := createPod(ctx, e.client, ns, "a", nil); err != nil {
		return nil, err
	}
	lw := &countingLW{client: e.client, ns: ns, watchTimeout: 1}
	store, cancel := runReflector(ctx, lw)
	defer cancel()
	if err := waitFor(ctx, "a in the store", storeHas(store, ns, "a")); err != nil {
		return nil, err
	}
	err := waitFor(ctx, "a third watch", func() bool {
		n := 0
		for _, c := range lw.snapshot() {
			if strings.HasPrefix(c, "watch ") {
				n++
			}
		}
		return n >= 3
	})
	if err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, ns, "b", nil); err != nil {
		return nil, err
	}
	err = waitFor(ctx, "b in the store", storeHas(store, ns, "b"))
	calls := lw.snapshot()
	d := map[string]any{"firstCalls": calls[:3], "storeKeys": sortedKeys(store)}
	for _, c := range calls {
		if strings.HasPrefix(c, "list ") && c != calls[0] {
			return d, fmt.Errorf("relisted: %v", calls)
		}
	}
	return d, err
}

// reflector-relist-on-gone: a reflector whose list claimed a resourceVersion the server
// no longer has ("1", once the server answers 410 for it) gets 410 on its watch and
// relists, then keeps up with new Events. The calls are reported up to the first watch
// from a real resourceVersion.
func checkReflectorRelist(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if err := makeEvents(ctx, e.client, ns, 60); err != nil {
		return nil, err
	}
	if _, _, err := watchTooOld(ctx, e.client, ns); err != nil {
		return nil, err
	}
	lw := &countingLW{client: e.client, ns: ns, events: true, staleFirst: true}
	store, cancel := runReflector(ctx, lw)
	defer cancel()
	upToWatch := func() []string {
		calls := lw.snapshot()
		for i, c := range calls {
			if i > 0 && c == "watch rv=N" {
				return calls[:i+1]
			}
		}
		return nil
	}
	err := waitFor(ctx, "a watch after the relist", func() bool { return upToWatch() != nil })
	if err != nil {
		return map[string]any{"calls": lw.snapshot()}, err
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "zz-end"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", APIVersion: "v1"},
		Reason:         "Check", Message: "clientgo-check", Type: corev1.EventTypeNormal,
	}
	if _, err := e.client.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	err = waitFor(ctx, "zz-end in the store", storeHas(store, ns, "zz-end"))
	return map[string]any{"calls": upToWatch(), "storeSize": len(store.ListKeys())}, err
}

func sortedKeys(s cache.Store) []string {
	k := s.ListKeys()
	sort.Strings(k)
	return k
}

// watchlist-stream: a watch with sendInitialEvents=true and resourceVersionMatch=
// NotOlderThan streams the existing objects as ADDED, then a bookmark annotated
// k8s.io/initial-events-end, then changes.
func checkWatchList(ctx context.Context, e *env, ns string) (map[string]any, error) {
	for _, n := range []string{"a", "b"} {
		if _, err := createPod(ctx, e.client, ns, n, nil); err != nil {
			return nil, err
		}
	}
	yes := true
	w, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
		SendInitialEvents: &yes, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks: true})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var lines []string
	annotated := false
	for !annotated {
		select {
		case <-ctx.Done():
			return map[string]any{"events": lines}, fmt.Errorf("no initial-events-end bookmark")
		case ev, ok := <-w.ResultChan():
			if !ok {
				return map[string]any{"events": lines}, fmt.Errorf("watch closed")
			}
			lines = append(lines, eventLine(ev))
			if ev.Type == watch.Bookmark {
				m, _ := meta.Accessor(ev.Object)
				if m != nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
					annotated = true
					lines[len(lines)-1] = "BOOKMARK " + metav1.InitialEventsAnnotationKey
					if m.GetResourceVersion() == "" {
						return nil, fmt.Errorf("initial-events-end bookmark without a resourceVersion")
					}
				}
			}
		}
	}
	if _, err := createPod(ctx, e.client, ns, "c", nil); err != nil {
		return nil, err
	}
	rest, err := collectUntil(ctx, w, "ADDED c", false)
	sort.Strings(lines[:len(lines)-1]) // the initial events come in no promised order
	return map[string]any{"events": append(lines, rest...)}, err
}

// selectors-list: label and field selectors on a list.
func checkSelectorsList(ctx context.Context, e *env, ns string) (map[string]any, error) {
	for _, p := range []struct{ n, app string }{{"a", "web"}, {"b", "web"}, {"c", "db"}} {
		if _, err := createPod(ctx, e.client, ns, p.n, map[string]string{"app": p.app}); err != nil {
			return nil, err
		}
	}
	d := map[string]any{}
	for _, q := range []struct{ key, label, field string }{
		{"app=web", "app=web", ""},
		{"app!=web", "app!=web", ""},
		{"app in (db,x)", "app in (db,x)", ""},
		{"!app", "!app", ""},
		{"metadata.name=b", "", "metadata.name=b"},
		{"metadata.name!=b,app=web", "app=web", "metadata.name!=b"},
		{"spec.nodeName=", "", fields.OneTermEqualSelector("spec.nodeName", "").String()},
		{"status.phase=Running", "", "status.phase=Running"},
	} {
		l, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: q.label, FieldSelector: q.field})
		if err != nil {
			return d, fmt.Errorf("%s: %w", q.key, err)
		}
		n := names(l.Items)
		sort.Strings(n)
		d[q.key] = n
	}
	_, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nope=1"})
	if se, ok := err.(apierrors.APIStatus); ok {
		d["unknownField"] = map[string]any{"code": se.Status().Code, "reason": string(se.Status().Reason), "message": se.Status().Message}
	} else {
		return d, fmt.Errorf("unknown field selector: %v", err)
	}
	return d, nil
}

// selectors-watch: a watch with a label selector sees an object that stops matching as
// DELETED and one that starts matching as ADDED; a field selector filters likewise.
func checkSelectorsWatch(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if _, err := createPod(ctx, e.client, ns, "a", map[string]string{"app": "web"}); err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, ns, "b", map[string]string{"app": "db"}); err != nil {
		return nil, err
	}
	l, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	lw, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, LabelSelector: "app=web"})
	if err != nil {
		return nil, err
	}
	fw, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, FieldSelector: "metadata.name=b"})
	if err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		app  string
	}{{"a", "db"}, {"b", "web"}, {"a", "web"}, {"b", "db"}}
	for _, s := range steps {
		if _, err := relabel(ctx, e.client, ns, s.name, map[string]string{"app": s.app}); err != nil {
			return nil, err
		}
	}
	if err := deletePod(ctx, e.client, ns, "b"); err != nil {
		return nil, err
	}
	if _, err := createPod(ctx, e.client, ns, "zz-end", map[string]string{"app": "web"}); err != nil {
		return nil, err
	}
	labelLines, err := collectUntil(ctx, lw, "ADDED zz-end", false)
	if err != nil {
		return nil, err
	}
	fieldLines, err := collectUntil(ctx, fw, "DELETED b", false)
	return map[string]any{"labelSelector app=web": labelLines, "fieldSelector metadata.name=b": fieldLines}, err
}

// protobuf-negotiation: client-go configured for protobuf (as kube-proxy and the
// controllers are) creates, lists, watches and gets; a server that answers JSON must
// still be understood. The content types answered are reported, not compared.
func checkProtobuf(ctx context.Context, e *env, ns string) (map[string]any, error) {
	if _, err := createPod(ctx, e.client, ns, "a", map[string]string{"app": "web"}); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	l, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	w, err := e.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	if _, err := relabel(ctx, e.client, ns, "a", map[string]string{"app": "db"}); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	lines, err := collectUntil(ctx, w, "MODIFIED a", false)
	if err != nil {
		return nil, err
	}
	got, err := e.client.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	_, err = e.client.CoreV1().Pods(ns).Get(ctx, "missing", metav1.GetOptions{})
	notFound := apierrors.IsNotFound(err)
	if err := deletePod(ctx, e.client, ns, "a"); err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	var types []string
	e.rec.mu.Lock()
	for t := range e.rec.contentTypes {
		types = append(types, t)
	}
	e.rec.mu.Unlock()
	sort.Strings(types)
	d := map[string]any{"listed": names(l.Items), "events": lines, "labelAfterUpdate": got.Labels["app"],
		"missingIsNotFound": notFound, "image": got.Spec.Containers[0].Image, "responseContentTypes": types}
	if !notFound {
		return d, fmt.Errorf("get of a missing pod: %v", err)
	}
	return d, nil
}

// update-conflict: an Update with a stale resourceVersion is 409 Conflict with upstream's
// message, and errors.IsConflict says so.
func checkUpdateConflict(ctx context.Context, e *env, ns string) (map[string]any, error) {
	p, err := createPod(ctx, e.client, ns, "a", nil)
	if err != nil {
		return nil, err
	}
	fresh := p.DeepCopy()
	fresh.Labels = map[string]string{"n": "1"}
	if _, err := e.client.CoreV1().Pods(ns).Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	stale := p.DeepCopy()
	stale.Labels = map[string]string{"n": "2"}
	_, err = e.client.CoreV1().Pods(ns).Update(ctx, stale, metav1.UpdateOptions{})
	d := map[string]any{"isConflict": apierrors.IsConflict(err)}
	if se, ok := err.(apierrors.APIStatus); ok {
		st := se.Status()
		d["code"], d["reason"], d["message"] = st.Code, string(st.Reason), st.Message
		if st.Details != nil {
			d["details"] = map[string]any{"name": st.Details.Name, "kind": st.Details.Kind, "group": st.Details.Group}
		}
	}
	now, gerr := e.client.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
	if gerr != nil {
		return d, gerr
	}
	d["labelKept"] = now.Labels["n"]
	if !apierrors.IsConflict(err) {
		return d, fmt.Errorf("stale update: %v", err)
	}
	return d, nil
}
