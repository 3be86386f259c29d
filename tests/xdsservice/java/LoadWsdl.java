// Loads a WSDL from its URL the way wsdl4j (the reader under Axis2 and CXF) does, following every schema
// import and include, and prints what it reached, for tests/xdsservice/test_wsdl_clients.py:
//   operation NAME INPUT-ACTION      one line per portType operation (wsaw:Action, else wsam:Action)
//   schema URL TARGET-NAMESPACE     one line per schema document read
// A schema that cannot be read is a WSDLException: the exit status is then 1 and its message is printed.
// wsdl4j resolves a relative schemaLocation against the document's URL with java.net.URL, the RFC 2396
// way: "?xsd=rim.xsd" from ".../xds/registry?wsdl" becomes ".../xds/?xsd=rim.xsd".
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.wsdl.Definition;
import javax.wsdl.Operation;
import javax.wsdl.PortType;
import javax.wsdl.WSDLException;
import javax.wsdl.extensions.schema.Schema;
import javax.wsdl.extensions.schema.SchemaReference;
import javax.wsdl.factory.WSDLFactory;
import javax.wsdl.xml.WSDLReader;
import javax.xml.namespace.QName;

public class LoadWsdl {
    static final QName WSAW = new QName("http://www.w3.org/2006/05/addressing/wsdl", "Action");
    static final QName WSAM = new QName("http://www.w3.org/2007/05/addressing/metadata", "Action");

    public static void main(String[] args) {
        try {
            WSDLReader reader = WSDLFactory.newInstance().newWSDLReader();
            reader.setFeature("javax.wsdl.verbose", false);
            reader.setFeature("javax.wsdl.importDocuments", true);
            Definition definition = reader.readWSDL(args[0]);
            for (Object portType : definition.getAllPortTypes().values()) {
                for (Object o : ((PortType) portType).getOperations()) {
                    Operation op = (Operation) o;
                    Object action = op.getInput().getExtensionAttribute(WSAW);
                    if (action == null) {
                        action = op.getInput().getExtensionAttribute(WSAM);
                    }
                    System.out.println("operation " + op.getName() + " " + action);
                }
            }
            Set<String> seen = new HashSet<>();
            for (Object element : definition.getTypes().getExtensibilityElements()) {
                if (element instanceof Schema) {
                    walk((Schema) element, seen);
                }
            }
        } catch (WSDLException e) {
            System.out.println("error " + e.getMessage().replace('\n', ' '));
            System.exit(1);
        }
    }

    static void walk(Schema schema, Set<String> seen) {
        for (Object list : schema.getImports().values()) {
            for (Object reference : (List<?>) list) {
                follow((SchemaReference) reference, seen);
            }
        }
        for (Object reference : schema.getIncludes()) {
            follow((SchemaReference) reference, seen);
        }
    }

    static void follow(SchemaReference reference, Set<String> seen) {
        Schema target = reference.getReferencedSchema();
        if (target == null) {
            System.out.println("missing " + reference.getSchemaLocationURI());
            return;
        }
        String url = target.getDocumentBaseURI();
        if (seen.add(url)) {
            System.out.println("schema " + url + " " + target.getElement().getAttribute("targetNamespace"));
            walk(target, seen);
        }
    }
}
