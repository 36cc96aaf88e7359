package worker

import (
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

// ValidateResult is the response of PUT
// /connector-plugins/{type}/config/validate, in Kafka Connect's shape.
type ValidateResult struct {
	Name       string       `json:"name"`
	ErrorCount int          `json:"error_count"`
	Groups     []string     `json:"groups"`
	Configs    []ConfigInfo `json:"configs"`
}

// ConfigInfo is one field's definition and the validated value.
type ConfigInfo struct {
	Definition ConfigKeyInfo   `json:"definition"`
	Value      ConfigValueInfo `json:"value"`
}

// ConfigKeyInfo describes a config field.
type ConfigKeyInfo struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Required      bool     `json:"required"`
	DefaultValue  *string  `json:"default_value"`
	Importance    string   `json:"importance"`
	Documentation string   `json:"documentation"`
	Group         string   `json:"group"`
	OrderInGroup  int      `json:"order_in_group"`
	Width         string   `json:"width"`
	DisplayName   string   `json:"display_name"`
	Dependents    []string `json:"dependents"`
}

// ConfigValueInfo is a field's value and its errors.
type ConfigValueInfo struct {
	Name              string   `json:"name"`
	Value             *string  `json:"value"`
	RecommendedValues []string `json:"recommended_values"`
	Errors            []string `json:"errors"`
	Visible           bool     `json:"visible"`
}

// Validate checks cfg against plugin's spec and the worker's common fields,
// returning every field with its errors. The error is
// connectors.ErrUnknownPlugin when no such plugin exists. Rules that depend
// on a worker's settings (exactly.once.support=required needs
// exactly.once.source.support=enabled) are checked by Worker.Validate.
func Validate(plugin string, cfg map[string]string) (ValidateResult, error) {
	return validate(plugin, cfg, nil)
}

// Validate is the package's Validate plus the rules that depend on this
// worker's settings; PUT /connector-plugins/{type}/config/validate serves
// it.
func (w *Worker) Validate(plugin string, cfg map[string]string) (ValidateResult, error) {
	return validate(plugin, cfg, &w.cfg)
}

func validate(plugin string, cfg map[string]string, wc *Config) (ValidateResult, error) {
	p, err := connectors.Lookup(plugin)
	if err != nil {
		return ValidateResult{}, err
	}
	cfg = copyMap(cfg)
	if c, ok := cfg[KeyClass]; ok && c != plugin {
		return ValidateResult{}, fmt.Errorf("connector.class %q does not match the plugin %q in the path", c, plugin)
	}
	cfg[KeyClass] = plugin
	_, errs := validateConfigFor(cfg, wc)
	byField := map[string][]string{}
	for _, fe := range errs {
		byField[fe.Field] = append(byField[fe.Field], fe.Message)
	}
	res := ValidateResult{Name: p.Name, Groups: []string{}, Configs: []ConfigInfo{}}
	seenGroup := map[string]bool{}
	order := map[string]int{}
	for _, f := range fullSpec(p) {
		group := f.Group
		if group == "" {
			group = p.Name
		}
		if !seenGroup[group] {
			seenGroup[group] = true
			res.Groups = append(res.Groups, group)
		}
		order[group]++
		var def *string
		if f.Default != "" {
			d := f.Default
			def = &d
		}
		importance := "MEDIUM"
		if f.Required {
			importance = "HIGH"
		}
		var val *string
		if v, ok := cfg[f.Name]; ok {
			if f.Type == connectors.TypePassword && v != "" {
				v = "[hidden]"
			}
			val = &v
		} else if def != nil {
			val = def
		}
		fieldErrs := byField[f.Name]
		if fieldErrs == nil {
			fieldErrs = []string{}
		}
		res.ErrorCount += len(fieldErrs)
		delete(byField, f.Name)
		res.Configs = append(res.Configs, ConfigInfo{
			Definition: ConfigKeyInfo{
				Name: f.Name, Type: f.Type.String(), Required: f.Required, DefaultValue: def,
				Importance: importance, Documentation: enumDoc(f), Group: group, OrderInGroup: order[group],
				Width: "NONE", DisplayName: f.Name, Dependents: []string{},
			},
			Value: ConfigValueInfo{Name: f.Name, Value: val, RecommendedValues: recommended(f), Errors: fieldErrs, Visible: true},
		})
	}
	// Errors on keys outside any spec (cross-field rules) still count.
	for name, msgs := range byField {
		res.ErrorCount += len(msgs)
		res.Configs = append(res.Configs, ConfigInfo{
			Definition: ConfigKeyInfo{Name: name, Type: "STRING", Importance: "LOW", Width: "NONE", DisplayName: name, Dependents: []string{}},
			Value:      ConfigValueInfo{Name: name, RecommendedValues: []string{}, Errors: msgs, Visible: true},
		})
	}
	return res, nil
}

func enumDoc(f connectors.Field) string {
	return f.Doc
}

func recommended(f connectors.Field) []string {
	if f.Type == connectors.TypeEnum {
		return append([]string(nil), f.Enum...)
	}
	if f.Type == connectors.TypeBool {
		return []string{"true", "false"}
	}
	return []string{}
}
