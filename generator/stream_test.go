package generator

import "testing"

// TestStreamShaped: the methods whose bare io.EOF is the end of their
// stream, by name, and the names that only look like them.
func TestStreamShaped(t *testing.T) {
	for name, want := range map[string]bool{
		"Read": true, "ReadAt": true, "ReadByte": true, "ReadString": true, "ReadDir": true,
		"Recv": true, "RecvMsg": true, "Receive": true, "ReceiveMessage": true,
		"Next": true, "NextResultSet": true, "Decode": true, "DecodeElement": true,
		"Ready": false, "Reader": false, "ReadOnly": false, "ReadWrite": false, "Receiver": false,
		"Nextval": false, "Get": false, "Write": false, "Incr": false, "XReadGroup": false, "TSRead": false,
	} {
		if got := streamShaped(name); got != want {
			t.Errorf("streamShaped(%q) = %v, want %v", name, got, want)
		}
	}
}
