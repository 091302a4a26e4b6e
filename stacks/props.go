package stacks

import (
	"fmt"
	"reflect"

	"github.com/aws/constructs-go/constructs/v10"
)

// mergeProps returns base with every field over sets laid over it: a set
// (non-zero) field of over wins; maps are merged key by key (over's value
// wins); pointers to structs (FunctionSettings, *awss3.BucketProps, ...)
// are merged field by field the same way. Neither argument is changed; nil
// stands for the zero value. T is a struct type.
func mergeProps[T any](base, over *T) *T {
	var out T
	v := reflect.ValueOf(&out).Elem()
	if base != nil {
		v.Set(reflect.ValueOf(base).Elem())
	}
	if over != nil {
		mergeValue(v, reflect.ValueOf(over).Elem())
	}
	return &out
}

// mergeValue lays the set fields of the struct src over the struct dst.
func mergeValue(dst, src reflect.Value) {
	for i := range src.NumField() {
		if !src.Type().Field(i).IsExported() {
			continue
		}
		s, d := src.Field(i), dst.Field(i)
		if s.IsZero() {
			continue
		}
		switch {
		case s.Kind() == reflect.Map && !d.IsNil():
			m := reflect.MakeMapWithSize(s.Type(), d.Len()+s.Len())
			for _, k := range d.MapKeys() {
				m.SetMapIndex(k, d.MapIndex(k))
			}
			for _, k := range s.MapKeys() {
				m.SetMapIndex(k, s.MapIndex(k))
			}
			d.Set(m)
		case s.Kind() == reflect.Pointer && s.Elem().Kind() == reflect.Struct && !d.IsNil():
			n := reflect.New(s.Elem().Type())
			n.Elem().Set(d.Elem())
			mergeValue(n.Elem(), s.Elem())
			d.Set(n)
		default:
			d.Set(s)
		}
	}
}

// constructFields names the fields of v (a struct or a pointer to one,
// walked through nested props structs, slices and maps) that hold a
// construct, as "Field" or "Field.Inner": what cannot be shared between
// stacks.
func constructFields(v any) []string {
	var out []string
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if v.IsNil() {
				return
			}
			if _, ok := v.Interface().(constructs.IConstruct); ok {
				out = append(out, path)
				return
			}
			// Jsii objects (a Duration, a BlockPublicAccess) are interfaces
			// whose proxies hold nothing to walk; pointers lead to props
			// structs and lists (KeyProps.Admins: principals, which may be
			// roles).
			if v.Kind() == reflect.Pointer {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				p := f.Name
				if path != "" {
					p = path + "." + f.Name
				}
				walk(p, v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k))
			}
		}
	}
	walk("", reflect.ValueOf(v))
	return out
}
