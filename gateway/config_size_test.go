package gateway_test

import (
	"testing"

	"github.com/hookgate/hookgate/gateway"
	"gopkg.in/yaml.v3"
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

func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A gateway.ByteSize `yaml:"a"`
		B gateway.ByteSize `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 5MB\nb: 2048\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 5<<20 || v.B != 2048 {
		t.Errorf("got a=%d b=%d, want %d 2048", v.A, v.B, 5<<20)
	}
	if err := yaml.Unmarshal([]byte("a: lots\n"), &v); err == nil {
		t.Error("a: lots decoded, want an error")
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "a: 5MB\nb: 2KB\n"; got != want {
		t.Errorf("Marshal = %q, want %q", got, want)
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
