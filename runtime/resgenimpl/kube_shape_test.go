package resgenimpl

// kubeStatus has the fields of metav1.Status that Classify reads.
type kubeStatus struct {
	Status  string
	Message string
	Reason  string
	Code    int32
	Details *kubeDetails
}

type kubeDetails struct {
	Name              string
	RetryAfterSeconds int32
}

// kubeErr has the shape of Kubernetes' *apierrors.StatusError.
type kubeErr struct{ S kubeStatus } // S is exported for the external tests

func (e *kubeErr) Status() kubeStatus { return e.S } // panics on a nil *kubeErr

func (e *kubeErr) Error() string {
	if e == nil {
		return "<nil>"
	}
	return e.S.Message
}

// The same, for the package's external tests.
type (
	KubeStatus  = kubeStatus
	KubeDetails = kubeDetails
	KubeErr     = kubeErr
)
