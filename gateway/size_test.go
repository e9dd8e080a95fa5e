package gateway_test

import (
	"testing"

	"github.com/hookgate/hookgate/gateway"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    gateway.ByteSize
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "5MB", want: 5 << 20},
		{in: "5mb", want: 5 << 20},
		{in: "512KB", want: 512 << 10},
		{in: "512 KB", want: 512 << 10},
		{in: "1GB", want: 1 << 30},
		{in: "100B", want: 100},
		{in: "", wantErr: true},
		{in: "MB", wantErr: true},
		{in: "-1MB", wantErr: true},
		{in: "1.5MB", wantErr: true},
		{in: "5TB", wantErr: true},
		{in: "99999999999999999GB", wantErr: true},
	}
	for _, tt := range tests {
		got, err := gateway.ParseByteSize(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseByteSize(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestByteSizeStringRoundTrips(t *testing.T) {
	tests := []struct {
		in   gateway.ByteSize
		want string
	}{
		{0, "0B"}, {100, "100B"}, {1536, "1536B"}, {2 << 10, "2KB"}, {5 << 20, "5MB"}, {3 << 30, "3GB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		back, err := gateway.ParseByteSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in.String(), back, err, int64(tt.in))
		}
	}
}

func TestParseByteRate(t *testing.T) {
	tests := []struct {
		in      string
		want    gateway.ByteRate
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "16KB/s", want: 16 << 10},
		{in: "16kb/S", want: 16 << 10},
		{in: "16KB", want: 16 << 10},
		{in: "1MB/s", want: 1 << 20},
		{in: "512", want: 512},
		{in: "/s", wantErr: true},
		{in: "16KB/m", wantErr: true},
		{in: "-1KB/s", wantErr: true},
	}
	for _, tt := range tests {
		got, err := gateway.ParseByteRate(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseByteRate(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseByteRate(%q) = %d, want %d", tt.in, got, tt.want)
		}
		if err == nil {
			if back, err := gateway.ParseByteRate(got.String()); err != nil || back != got {
				t.Errorf("ParseByteRate(%q.String() = %q) = %d, %v; want it back", tt.in, got.String(), back, err)
			}
		}
	}
}
