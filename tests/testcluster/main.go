// Command testcluster starts a real Kubernetes control plane on loopback for fledge's tests:
// etcd (embedded), kube-apiserver (RBAC, token authentication) and kube-controller-manager,
// each the unmodified upstream command run by re-executing this binary, one Node, and a loop
// standing in for the kubelets, which marks every pod Running and Ready (a Job's pods Succeeded).
//
//	testcluster DIR
//
// DIR must be empty or missing. When the control plane is ready, testcluster writes
// DIR/kubeconfig (atomically: an admin token in group system:masters) and prints
// "READY DIR/kubeconfig" on stdout. Component logs go to DIR/*.log. SIGTERM or SIGINT (or the
// exit of the process that started it) stops every component and leaves no process behind.
//
// Pods whose annotations say sim.fledge.dev/ready: "false" (set on a pod template, as for
// fledge's simulated cluster) are never marked ready, so a Deployment can really miss its
// progress deadline; so are pods running an image their annotation sim.fledge.dev/failing-images
// lists (comma-separated references): a bad build, which never starts (a Job's pod running one
// fails).
//
// The binary also runs the components themselves: `testcluster kube-apiserver FLAGS` and
// `testcluster kube-controller-manager FLAGS` (separate processes: the two share process-global
// feature gates and signal handlers).
package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// The admin token: the cluster listens on loopback only and lives as long as a test run.
const adminToken = "fledge-testcluster-admin"

// The pod annotation that keeps a pod unready (fledge's simulated cluster reads the same).
const unready = "sim.fledge.dev/ready"

// The pod annotation listing images that never start (on fledge's simulated cluster, their
// pods fail every request).
const failingImages = "sim.fledge.dev/failing-images"

// runsFailingImage says whether one of the pod's containers runs an image its annotation lists.
func runsFailingImage(pod *corev1.Pod) bool {
	listed := pod.Annotations[failingImages]
	if listed == "" {
		return false
	}
	for _, image := range strings.Split(listed, ",") {
		for _, c := range pod.Spec.Containers {
			if c.Image == strings.TrimSpace(image) {
				return true
			}
		}
	}
	return false
}

// Controllers the tests need: Deployments and DaemonSets roll out, Jobs run, garbage is collected,
// Namespaces are deleted, every Namespace gets its default ServiceAccount, HPAs keep replicas
// in bounds.
var controllers = []string{
	"deployment-controller",
	"job-controller",
	"daemonset-controller",
	"replicaset-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"horizontal-pod-autoscaler-controller",
}

// The process that started this one, read before anything else.
var parent = os.Getppid()

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "kube-apiserver":
			c := apiserver.NewAPIServerCommand()
			c.SetArgs(os.Args[2:])
			os.Exit(cli.Run(c))
		case "kube-controller-manager":
			c := controllermanager.NewControllerManagerCommand()
			c.SetArgs(os.Args[2:])
			os.Exit(cli.Run(c))
		}
	}
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: testcluster DIR (an empty or missing directory)")
		os.Exit(64)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, orphaned := context.WithCancel(ctx)
	go stopWhenOrphaned(orphaned)

	etcd, etcdURL, err := startEtcd(p)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	api, err := writeCredentials(p)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(api)
	apiDone, err := spawn(ctx, dir, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--tls-cert-file="+p("tls.crt"), "--tls-private-key-file="+p("tls.key"),
		"--token-auth-file="+p("tokens.csv"), "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p("sa.key"),
		"--service-account-signing-key-file="+p("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
		"--allow-privileged=true", "--profiling=false")
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", p("admin.kubeconfig"))
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := until(ctx, apiDone, func() bool {
		return cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() == nil
	}); err != nil {
		return fmt.Errorf("kube-apiserver: %w (see %s)", err, p("kube-apiserver.log"))
	}

	kcmPort, err := freePort()
	if err != nil {
		return err
	}
	kcmDone, err := spawn(ctx, dir, "kube-controller-manager",
		"--kubeconfig="+p("admin.kubeconfig"),
		"--authentication-kubeconfig="+p("admin.kubeconfig"),
		"--authorization-kubeconfig="+p("admin.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+kcmPort, "--leader-elect=false",
		"--use-service-account-credentials=false",
		"--controllers="+strings.Join(controllers, ","))
	if err != nil {
		return err
	}
	// The controller manager is up once the serviceaccount controller made default/default.
	if err := until(ctx, kcmDone, func() bool {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return fmt.Errorf("kube-controller-manager: %w (see %s)", err, p("kube-controller-manager.log"))
	}

	if err := addNode(ctx, cs); err != nil {
		return fmt.Errorf("node %s: %w", nodeName, err)
	}

	// The kubeconfig appears whole, and only once everything is ready.
	if err := os.Link(p("admin.kubeconfig"), p("kubeconfig.tmp")); err != nil {
		return err
	}
	if err := os.Rename(p("kubeconfig.tmp"), p("kubeconfig")); err != nil {
		return err
	}
	fmt.Println("READY", p("kubeconfig"))

	kubelet(ctx, rc, p("kubelet.log"))
	// ctx ended: both children got SIGTERM (cmd.Cancel); wait for them, then etcd closes.
	<-kcmDone
	<-apiDone
	return nil
}

// startEtcd starts etcd in this process on free loopback ports.
func startEtcd(p func(string) string) (*embed.Etcd, string, error) {
	client, err := freeURL()
	if err != nil {
		return nil, "", err
	}
	peer, err := freeURL()
	if err != nil {
		return nil, "", err
	}
	ec := embed.NewConfig()
	ec.Dir = p("etcd")
	ec.LogLevel = "warn"
	ec.LogOutputs = []string{p("etcd.log")}
	// The data lives as long as a test run: no fsync.
	ec.UnsafeNoFsync = true
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, client.String(), nil
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("not ready within 60s (see %s)", p("etcd.log"))
	}
}

// writeCredentials writes the serving certificate, the service-account key, the token file and
// the admin kubeconfig; returns the apiserver's address.
func writeCredentials(p func(string) string) (string, error) {
	crt, key, err := certutil.GenerateSelfSignedCertKey("127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"})
	if err != nil {
		return "", err
	}
	sa, err := keyutil.MakeEllipticPrivateKeyPEM()
	if err != nil {
		return "", err
	}
	for name, content := range map[string][]byte{
		"tls.crt":    crt,
		"tls.key":    key,
		"sa.key":     sa,
		"tokens.csv": []byte(adminToken + ",admin,admin,system:masters\n"),
	} {
		if err := os.WriteFile(p(name), content, 0o600); err != nil {
			return "", err
		}
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	api := net.JoinHostPort("127.0.0.1", port)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testcluster"] = &clientcmdapi.Cluster{Server: "https://" + api, CertificateAuthorityData: caOf(crt)}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: adminToken}
	kc.Contexts["testcluster"] = &clientcmdapi.Context{Cluster: "testcluster", AuthInfo: "admin"}
	kc.CurrentContext = "testcluster"
	return api, clientcmd.WriteToFile(*kc, p("admin.kubeconfig"))
}

// caOf returns the CA of a bundle that holds the serving certificate followed by its CA (what
// GenerateSelfSignedCertKey returns), so clients trust the CA alone.
func caOf(bundle []byte) []byte {
	var blocks [][]byte
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, pem.EncodeToMemory(b))
	}
	if len(blocks) < 2 {
		return bundle
	}
	return blocks[len(blocks)-1]
}

// The one node, which DaemonSets run a daemon on (no scheduler runs: the kubelet loop below
// marks pods running wherever they are).
const nodeName = "testcluster-node"

// addNode registers the node, Ready, with the labels a kubelet gives its node.
func addNode(ctx context.Context, cs *kubernetes.Clientset) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{
		"kubernetes.io/hostname": nodeName,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}}}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	created.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

// kubelet stands in for the kubelets of a cluster until ctx ends: every pod becomes Running
// and Ready, but for those annotated unready. It watches pods (an informer, as a kubelet does)
// and marks them from a work queue, on a client allowed as many requests as a cluster's
// kubelets together (one real kubelet's 50 a second would make the pods of a thousand
// Deployments wait on it, not on the control plane).
func kubelet(ctx context.Context, rc *rest.Config, logPath string) {
	log, err := os.Create(logPath)
	if err != nil {
		log = os.Stderr
	}
	defer log.Close()
	c := rest.CopyConfig(rc)
	c.QPS, c.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		fmt.Fprintln(log, "client:", err)
		return
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		fmt.Fprintln(log, "informer:", err)
		return
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	var workers sync.WaitGroup
	for range 8 {
		workers.Go(func() {
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				if err := start(ctx, cs, pods.Lister(), key); err != nil && ctx.Err() == nil {
					fmt.Fprintln(log, "pod", key+":", err)
					queue.AddRateLimited(key)
				} else {
					queue.Forget(key)
				}
				queue.Done(key)
			}
		})
	}
	workers.Wait()
	factory.Shutdown()
}

// start marks the pending pod `key` (NAMESPACE/NAME) Running and Ready, or, for a pod that
// runs to completion, as it ends.
func start(ctx context.Context, cs *kubernetes.Clientset, lister corelisters.PodLister, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := lister.Pods(ns).Get(name)
	if err != nil {
		return nil // deleted since
	}
	if cached.DeletionTimestamp != nil || cached.Status.Phase != "" && cached.Status.Phase != corev1.PodPending {
		return nil
	}
	pod := cached.DeepCopy()
	now := metav1.Now()
	if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways && pod.Spec.RestartPolicy != "" {
		// A Job's pod runs to its end: it succeeds, or fails when its image is a bad build.
		return finish(ctx, cs, pod, now)
	}
	if pod.Annotations[unready] == "false" || runsFailingImage(pod) {
		return nil
	}
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		StartTime: &now,
		PodIP:     "10.244.0.1",
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:    c.Name,
			Image:   c.Image,
			Ready:   true,
			Started: &[]bool{true}[0],
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// finish marks a pod that runs to completion (restartPolicy Never or OnFailure) as it ends:
// Succeeded, each container exited 0, or Failed with exit code 1 when it runs a failing image.
func finish(ctx context.Context, cs *kubernetes.Clientset, pod *corev1.Pod, now metav1.Time) error {
	phase, code, reason := corev1.PodSucceeded, int32(0), "Completed"
	if runsFailingImage(pod) {
		phase, code, reason = corev1.PodFailed, 1, "Error"
	}
	pod.Status = corev1.PodStatus{Phase: phase, StartTime: &now, PodIP: "10.244.0.1"}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:  c.Name,
			Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: now,
			}},
		})
	}
	_, err := cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// spawn runs this binary as a component, its output in DIR/NAME.log; SIGTERM when ctx ends,
// SIGKILL if this process dies first. The channel closes when it exits.
func spawn(ctx context.Context, dir, name string, args ...string) (<-chan struct{}, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 20 * time.Second
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.Stdout, c.Stderr = log, log
	if err := c.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = c.Wait()
		log.Close()
		close(done)
	}()
	return done, nil
}

// until polls ready every 100 ms for up to two minutes; an error if the component exits first.
func until(ctx context.Context, exited <-chan struct{}, ready func() bool) error {
	deadline := time.Now().Add(2 * time.Minute)
	for !ready() {
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within 2m")
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return nil
}

// stopWhenOrphaned cancels when the process that started this one exits.
func stopWhenOrphaned(cancel context.CancelFunc) {
	for os.Getppid() == parent {
		time.Sleep(500 * time.Millisecond)
	}
	cancel()
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func freeURL() (url.URL, error) {
	port, err := freePort()
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", port)}, err
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
