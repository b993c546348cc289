package token

import "testing"

func TestKeyID(t *testing.T) {
	tests := []struct {
		name                      string
		grant, request, requester string
		approvers                 []string
		want                      string
	}{
		{
			name:  "plain ids",
			grant: "01JD2XG", request: "01JD2XR", requester: "alice", approvers: []string{"bob", "carol"},
			want: "breakglass grant=01JD2XG request=01JD2XR requester=alice approvers=bob,carol",
		},
		{
			name:  "approver order kept",
			grant: "g", request: "r", requester: "alice", approvers: []string{"carol", "bob"},
			want: "breakglass grant=g request=r requester=alice approvers=carol,bob",
		},
		{
			name:  "no approvers",
			grant: "g", request: "r", requester: "alice",
			want: "breakglass grant=g request=r requester=alice approvers=",
		},
		{
			name:  "safe punctuation kept",
			grant: "g-1.2_3~", request: "r:4", requester: "alice@example.net", approvers: []string{"ou/bob+x"},
			want: "breakglass grant=g-1.2_3~ request=r:4 requester=alice@example.net approvers=ou/bob+x",
		},
		{
			name:  "separators escaped",
			grant: "g approvers=mallory", request: "r", requester: "a,b", approvers: []string{"x,y", "50%"},
			want: "breakglass grant=g%20approvers%3Dmallory request=r requester=a%2Cb approvers=x%2Cy,50%25",
		},
		{
			name:  "control and non-ASCII bytes escaped",
			grant: "g\n", request: "r\x00", requester: "zoë", approvers: []string{`"q"`},
			want: "breakglass grant=g%0A request=r%00 requester=zo%C3%AB approvers=%22q%22",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KeyID(tt.grant, tt.request, tt.requester, tt.approvers)
			if got != tt.want {
				t.Errorf("KeyID = %q\nwant    %q", got, tt.want)
			}
		})
	}
}
